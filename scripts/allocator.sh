# Sourced by ./cmtm and ./test. Preloads tcmalloc for the process that runs models, unless CMTM_ALLOCATOR=default.
# Why (measured on the project's 2-core machine, FakeFlow-b0, 512 px): with glibc malloc the resident memory of a
# long run keeps growing from heap fragmentation (libtorch frees and reallocates tens of MB per frame: ~1 GB after
# 100 frames, in-use memory flat at ~90 MB), and every large tensor is page-faulted in fresh each frame; with tcmalloc
# the peak stays at ~470 MB and frames are ~10-25 % faster. Outputs are identical (only the allocator changes).
if [ "${CMTM_ALLOCATOR:-}" != "default" ] && [[ "${LD_PRELOAD:-}" != *tcmalloc* ]]; then
  # awk reads the whole list (an early `exit` would SIGPIPE ldconfig, which under the callers' pipefail ended ./cmtm
  # with exit 141 at random)
  cmtm_tcmalloc="$(ldconfig -p 2>/dev/null | awk '/libtcmalloc_minimal\.so\.4 / && !found {found = $NF} END {print found}' || true)"
  if [ -n "$cmtm_tcmalloc" ] && [ -f "$cmtm_tcmalloc" ]; then
    export LD_PRELOAD="$cmtm_tcmalloc${LD_PRELOAD:+:$LD_PRELOAD}"
  fi
  unset cmtm_tcmalloc
fi
