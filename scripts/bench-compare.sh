#!/usr/bin/env bash
# A/B speed comparison of this checkout against another revision on the same machine, interleaved so that both see
# the same machine state (a shared VM's speed drifts by up to 2x over minutes: compare runs, not days).
#   scripts/bench-compare.sh REV [ARCH ...]      e.g. scripts/bench-compare.sh dd6682b fakeflow-b0 cmtm-b0
# Prints one line per architecture and round: s/frame of REV, of this checkout, their ratio, and the matmul rate.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rev="${1:?usage: scripts/bench-compare.sh REV [ARCH ...]}"; shift
archs=("$@"); [ ${#archs[@]} -eq 0 ] && archs=(fakeflow-b0 fakeflow-b1 fakeflow-b2 cmtm-b0 cmtm-b1 cmtm-b2)
rounds="${ROUNDS:-2}"; frames="${FRAMES:-4}"
work="$(mktemp -d)"; trap 'git -C "$here" worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$here" worktree add -f "$work/old" "$rev" -q
dotnet build "$work/old/src/Cmtm.Cli/Cmtm.Cli.csproj" -c Release -o "$work/old-bin" -nologo -v quiet >/dev/null
"$here/cmtm" version >/dev/null   # builds this checkout
. "$here/scripts/allocator.sh"
run() { dotnet "$1" bench --arch "$2" --frames "$frames" --batch 1 --no-train --no-e2e --json "$3" >/dev/null 2>&1; }
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['seconds-per-frame']['median'], d['matmul-gflops'], d['peak-rss-mb'])" "$1"; }
echo "arch round rev_s_per_frame this_s_per_frame ratio rev_matmul this_matmul rev_peak_mb this_peak_mb"
for r in $(seq 1 "$rounds"); do
  for a in "${archs[@]}"; do
    run "$work/old-bin/cmtm.dll" "$a" "$work/old.json"; read -r os om op < <(field "$work/old.json")
    run "$here/.cmtm-build/cmtm.dll" "$a" "$work/new.json"; read -r ns nm np < <(field "$work/new.json")
    python3 -c "import sys; a,r,os,ns,om,nm,op,np=sys.argv[1:]; print(f'{a} {r} {float(os):.3f} {float(ns):.3f} {float(ns)/float(os):.2f} {float(om):.0f} {float(nm):.0f} {float(op):.0f} {float(np):.0f}')" "$a" "$r" "$os" "$ns" "$om" "$nm" "$op" "$np"
  done
done
