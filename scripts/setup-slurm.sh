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
# the packages' own services are not wanted: scripts/slurm-local.sh starts its own daemons with its own configuration
"$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" setup-slurm "${need[@]}"
