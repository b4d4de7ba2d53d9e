#!/usr/bin/env bash
# CMTM.NET over many videos as a Slurm job array. Task K of an array of N does shard K/N of a video list (the same
# deterministic split in every task: by video, balanced by frame count): the flows of its videos into OUT/flows/<name>/,
# then their masks into OUT/masks/<name>/. Finished videos are skipped, so a re-run or a requeued task only does what
# is missing; a bad video fails alone and the task exits non-zero at the end, naming it.
#
#   ./cmtm version                                                   # build once before submitting (tasks share the build)
#   sbatch --array=0-3 deploy/slurm-array.sh videos.txt out          # 4 tasks; videos.txt: one video file or frames folder per line
#   ./cmtm shards out/masks                                          # done / failed / missing, and which indices to resubmit
#   sbatch --array=1 --export=ALL,CMTM_SHARD_COUNT=4 deploy/slurm-array.sh videos.txt out   # resubmit index 1 of 4
#
# A resubmitted subset must say the array's full size (CMTM_SHARD_COUNT): Slurm's SLURM_ARRAY_TASK_COUNT is then the
# subset's. Environment: CMTM (command, default ./cmtm in the submission folder; in the container image: cmtm),
# CMTM_DEVICE (cpu; cuda on GPU nodes, with #SBATCH --gres=gpu:1), CMTM_WEIGHTS (default: the shipped model),
# CMTM_FLOW_ARGS / CMTM_SEGMENT_ARGS (extra options, e.g. "--method raft --weights raft-sintel.pth" / "--overlay").
#SBATCH --job-name=cmtm
#SBATCH --array=0-3
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=cmtm-%A_%a.log
set -uo pipefail
list="${1:?usage: sbatch --array=0-(N-1) slurm-array.sh LIST OUT}"
out="${2:?usage: sbatch --array=0-(N-1) slurm-array.sh LIST OUT}"
read -r -a cmtm <<<"${CMTM:-./cmtm}"
read -r -a flow_args <<<"${CMTM_FLOW_ARGS:-}"
read -r -a segment_args <<<"${CMTM_SEGMENT_ARGS:-}"
device="${CMTM_DEVICE:-cpu}"
threads="${SLURM_CPUS_PER_TASK:-0}"
weights=()
[ -n "${CMTM_WEIGHTS:-}" ] && weights=(--weights "$CMTM_WEIGHTS")
echo "cmtm task ${SLURM_ARRAY_TASK_ID:-?} of array job ${SLURM_ARRAY_JOB_ID:-?} on $(hostname)"
# the shard comes from SLURM_ARRAY_TASK_ID and CMTM_SHARD_COUNT / SLURM_ARRAY_TASK_COUNT (cmtm reads them itself)
"${cmtm[@]}" flow --list "$list" --out "$out/flows" --threads "$threads" --device "$device" "${flow_args[@]}"
flow_rc=$?
"${cmtm[@]}" segment --list "$list" --out "$out/masks" --flow "$out/flows" --threads "$threads" --device "$device" "${weights[@]}" "${segment_args[@]}"
segment_rc=$?
[ "$flow_rc" -eq 0 ] && [ "$segment_rc" -eq 0 ]
