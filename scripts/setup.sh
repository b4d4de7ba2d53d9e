#!/usr/bin/env bash
# One-time machine set-up for CMTM.NET on Debian/Ubuntu: the native libraries OpenCV's runtime needs, and tcmalloc.
# Idempotent and quiet when everything is present. The .NET SDK (10) must already be installed.
# --browser (./test): also Debian's chromium and chromium-driver, for the browser test of `cmtm serve`.
set -euo pipefail
need_pkgs=()
if [ "${1:-}" = "--browser" ]; then
  command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need_pkgs+=(chromium-driver)
fi
# the library list is read whole first: `ldconfig -p | grep -q` under pipefail fails at random when grep exits early
# and ldconfig dies of SIGPIPE (it made a present library look missing)
libs="$(ldconfig -p 2>/dev/null || true)"
have_lib() { grep -qF -- "$1" <<<"$libs"; }
have_lib 'libgtk-3.so.0' || need_pkgs+=(libgtk-3-0)
have_lib 'libfontconfig.so.1' || need_pkgs+=(libfontconfig1)
# tcmalloc: ./cmtm and ./test preload it (scripts/allocator.sh): faster and flat memory over long videos
have_lib 'libtcmalloc_minimal.so.4' || need_pkgs+=(libtcmalloc-minimal4)
if ! command -v dotnet >/dev/null 2>&1; then
  echo "setup: the .NET 10 SDK is required (dotnet not found on PATH)" >&2
  exit 1
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" setup "${need_pkgs[@]}"
fi
