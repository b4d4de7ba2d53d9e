#!/usr/bin/env bash
# The README's speed table: `cmtm bench --bf16` (model-only, batch 1) for every architecture, ROUNDS rounds, and the
# official graph's numbers from the performance issue (same libtorch 2.10, 2 threads, 480x854 -> 512 -> back).
#   scripts/bench-table.sh [ARCH ...]          ROUNDS=2 FRAMES=4 by default; JSON of every run in $OUT (default: a temp dir)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
archs=("$@"); [ ${#archs[@]} -eq 0 ] && archs=(fakeflow-b0 fakeflow-b1 fakeflow-b2 cmtm-b0 cmtm-b1 cmtm-b2)
rounds="${ROUNDS:-2}"; frames="${FRAMES:-4}"
out="${OUT:-$(mktemp -d)}"; mkdir -p "$out"
"$here/cmtm" version >/dev/null   # builds once
for r in $(seq 1 "$rounds"); do
  for a in "${archs[@]}"; do
    echo "round $r: $a" >&2
    rc=0; "$here/cmtm" bench --arch "$a" --frames "$frames" --batch 1 --no-train --no-e2e --bf16 --json "$out/$a.$r.json" >/dev/null 2>"$out/$a.$r.log" || rc=$?
    if [ "$rc" -ne 0 ]; then echo "bench-table: cmtm bench --arch $a failed (exit $rc); its output: $out/$a.$r.log" >&2; exit 1; fi
  done
done
python3 - "$out" "$rounds" "$frames" "${archs[@]}" <<'EOF'
import json, sys
out, rounds, frames, archs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
official = {"fakeflow-b0": (0.903, 558), "fakeflow-b1": (2.766, 750), "fakeflow-b2": (3.474, 946),
            "cmtm-b0": (11.31, 1061), "cmtm-b1": (12.84, 1247), "cmtm-b2": (11.68, 1436)}
runs = {a: [json.load(open(f"{out}/{a}.{r}.json")) for r in range(1, rounds + 1)] for a in archs}
first = next(iter(runs.values()))[0]
print(f"machine: {first['Machine']}; libtorch {first['LibTorch']}; {first['Threads']} threads; allocator {first['Allocator']}")
print("| model | GFLOP/frame | fp32 s/frame | official s/frame | speed-up | bf16 s/frame | bf16 vs fp32 | bf16 max abs logit diff / max abs logit | bf16 mask IoU | matmul GFLOP/s | peak RSS (official) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for a, rs in runs.items():
    f32 = [r["seconds-per-frame"]["median"] for r in rs]
    b16 = [r["bf16"]["seconds-per-frame"]["median"] for r in rs]
    sp = [r["bf16"]["speedup-over-fp32"] for r in rs]
    rng = lambda xs, f="{:.3f}": f.format(min(xs)) if len(xs) == 1 else (f + "-" + f).format(min(xs), max(xs))
    off, off_mb = official.get(a, (float("nan"), float("nan")))
    diff = max(r["bf16"]["max-abs-logit-difference"] / r["bf16"]["max-abs-logit"] for r in rs)
    iou = min(r["bf16"]["mask-iou"] for r in rs)
    mm = [r["matmul-gflops"] for r in rs]
    peak = max(r["peak-rss-mb"] for r in rs)
    print(f"| {a} | {rs[0]['GflopPerFrame']:.1f} | {rng(f32)} | {off} | {off / max(f32):.1f}-{off / min(f32):.1f}x | {rng(b16)} | {rng(sp, '{:.2f}')}x | {100 * diff:.1f} % | {iou:.3f} | {rng(mm, '{:.0f}')} | {peak:.0f} MB ({off_mb}) |")
print(f"({rounds} rounds; each run: median of {frames} timed frames after one warm-up, random weights; ranges over rounds; JSON in {out})")
EOF
