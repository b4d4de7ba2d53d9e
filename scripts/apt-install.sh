#!/usr/bin/env bash
# `scripts/apt-install.sh WHO PKG...`: installs Debian packages with apt-get, as root or through sudo; otherwise says
# what to install and fails. WHO prefixes the messages (the calling script's name). Used by setup.sh and setup-slurm.sh.
set -euo pipefail
who="$1"; shift
[ $# -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then sudo_cmd=(); elif command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
  echo "$who: please install: $* (apt-get install $*)" >&2; exit 1; fi
echo "$who: installing $* (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq >&2
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "$@" >&2
