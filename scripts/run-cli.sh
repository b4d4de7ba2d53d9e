#!/usr/bin/env bash
# Runs the built CLI (`scripts/run-cli.sh path/to/cmtm.dll ARGS...`, called by ./cmtm) as a child process instead of
# exec'ing it, so that a death by a signal, which .NET cannot catch or report (a segmentation fault or abort in native
# code), still ends with one clear line on stderr; for `train` the line says where the run folder's progress.json left
# off and how to resume. The exit code is the child's, unchanged (128 + N for signal N). TERM and HUP sent to this
# script are passed on to the child; Ctrl-C reaches the child directly (same process group), so it stops gracefully.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dll="$1"; shift
. "$here/allocator.sh"
( trap - INT QUIT; exec dotnet "$dll" "$@" ) &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM
trap 'kill -HUP "$child" 2>/dev/null' HUP
trap '' INT # the terminal's Ctrl-C goes to the child too; this script waits for it to stop
while :; do
  wait "$child" 2>/dev/null; rc=$? # (bash's own "Aborted ..." job line is dropped: the line below says it)
  # a trapped signal ends `wait` early (128 + N) while the child still runs: wait again
  kill -0 "$child" 2>/dev/null || break
done
if [ "$rc" -gt 128 ]; then
  sig=$((rc - 128))
  name="SIG$(kill -l "$sig" 2>/dev/null || echo "$sig")"
  case "$name" in
    SIGSEGV|SIGBUS|SIGILL|SIGFPE|SIGABRT|SIGTRAP|SIGSYS) msg="cmtm: killed by signal $sig ($name) — a bug; please report it" ;;
    *) msg="cmtm: killed by signal $sig ($name)" ;;
  esac
  if [ "${1:-}" = "train" ]; then
    dir=""; prev=""
    for a in "$@"; do
      [ "$prev" = "--out" ] && dir="$a"
      case "$a" in --out=*) dir="${a#--out=}" ;; esac
      prev="$a"
    done
    if [ -n "$dir" ] && [ -f "$dir/progress.json" ]; then
      where="$(sed -n 's/^ *"summary": *"\(.*\)",\{0,1\}$/\1/p' "$dir/progress.json")"
      if [ -f "$dir/last.train.safetensors" ]; then
        msg+="; the run in $dir ($where) can be resumed with: ./cmtm train --resume --out $dir"
      else
        msg+="; the run in $dir has no checkpoint yet ($where): start it again"
      fi
    fi
  fi
  echo "$msg" >&2
fi
exit "$rc"
