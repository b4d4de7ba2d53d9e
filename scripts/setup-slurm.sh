#!/usr/bin/env bash
# Installs what the single-node Slurm test needs (Debian's slurm-wlm and munge) when the machine lacks it.
# Idempotent and quiet when everything is present; called by the test itself (tests/Cmtm.Tests/Sharding), not by ./test.
set -euo pipefail
need=()
command -v slurmctld >/dev/null 2>&1 || need+=(slurmctld)
command -v slurmd >/dev/null 2>&1 || need+=(slurmd)
command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
command -v munged >/dev/null 2>&1 || need+=(munge)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then sudo_cmd=(); elif command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
  echo "setup-slurm: please install: ${need[*]} (apt-get install slurm-wlm munge)" >&2; exit 1; fi
echo "setup-slurm: installing ${need[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
# the packages' own services are not wanted: the test starts its own daemons with its own configuration
"${sudo_cmd[@]}" apt-get update -qq >&2
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
