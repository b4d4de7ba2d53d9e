#!/usr/bin/env bash
# A throw-away single-node Slurm cluster on this machine, everything under one folder (its own munge key and socket,
# slurm.conf, state, spool, logs, free ports), for trying deploy/slurm-array.sh and for the Slurm test:
#   scripts/slurm-local.sh start DIR     # installs slurm-wlm + munge if missing (scripts/setup-slurm.sh), starts munged,
#                                        # slurmctld and slurmd (localhost, this machine's CPUs); prints SLURM_CONF=DIR/slurm.conf
#   SLURM_CONF=DIR/slurm.conf sbatch ...
#   scripts/slurm-local.sh stop DIR      # stops the daemons started by `start` (by their pid files) and nothing else
# Must run as root (the daemons run as root here).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:?usage: slurm-local.sh start|stop DIR}"
dir="$(realpath -m "${2:?usage: slurm-local.sh start|stop DIR}")"

stop() {
  # this cluster's jobs first (its own slurm.conf), so that no job step outlives the daemons
  if [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    SLURM_CONF="$dir/slurm.conf" timeout 10 scancel --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 100); do
      [ -z "$(SLURM_CONF="$dir/slurm.conf" timeout 5 squeue -h 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  for f in slurmd slurmctld munged; do
    local pidfile="$dir/$f.pid"
    [ -f "$pidfile" ] || continue
    local pid; pid="$(cat "$pidfile")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

case "$cmd" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "slurm-local: unknown command '$cmd' (start or stop)" >&2; exit 2 ;;
esac

"$here/setup-slurm.sh"
mkdir -p "$dir"/{munge,state,spool,log}
chmod 711 "$dir" "$dir/munge"
# munge: a key of this cluster's own, its own socket
[ -f "$dir/munge/munge.key" ] || { head -c 128 /dev/urandom > "$dir/munge/munge.key"; chmod 600 "$dir/munge/munge.key"; }
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" --pid-file="$dir/munged.pid" \
  --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"
node="$(hostname -s)"
cpus="$(nproc)"
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
cat > "$dir/slurm.conf" <<CONF
ClusterName=cmtmlocal
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
KillWait=5
MinJobAge=600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 150); do
  if [ "$(sinfo -h -o %T 2>/dev/null)" = "idle" ]; then echo "SLURM_CONF=$SLURM_CONF"; exit 0; fi
  sleep 0.2
done
echo "slurm-local: the node did not become idle within 30 s (logs in $dir/log)" >&2
stop
exit 1
