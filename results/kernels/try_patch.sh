#!/usr/bin/env bash
# Device calls for kernel patches (issue 21). Results packed into $OUT/patch.tgz.
#   GIT_COMMIT=<hash> bash results/kernels/try_patch.sh <file.patch>   (repo root)
#     applies the patch to the device's copy of the tree, times the Gram form beside the unpatched
#     kernels/flashsign_gram.py (benchmarks.sweep_gram --tiles-only --baseline), then runs the GPU tests with the
#     2,000-case fuzz on the patched tree.
#   GIT_COMMIT=<hash> bash results/kernels/try_patch.sh <a.patch> <b.patch> ... [-- <sweep_gram arguments>]
#     times each patch's kernels/flashsign_gram.py beside the unpatched one in one process, and runs no tests:
#     fuzz the one taken in a call of its own. Arguments after -- go to the sweep (--extra tile candidates, timed
#     in the same process; with no patch before --, nothing is applied and only the sweep runs).
# Fewer than 10 pytest workers: each of test_gpu_head_dims_and_sizes' workers holds 5-7 GB of the GPU.
export PYTHONPATH=. PYTHONUNBUFFERED=1 WANDB_MODE=disabled WORK=/tmp/patch
mkdir -p $WORK
cp kernels/flashsign_gram.py $WORK/unpatched_flashsign_gram.py
patched=() patches=() sweep_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do patches+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift && sweep_args=("$@")
set -- "${patches[@]}"
if [ $# -ne 1 ]; then
  for patch in "$@"; do
    git apply "$patch" || exit
    patched+=("$WORK/$(basename "$patch" .patch).py")
    cp kernels/flashsign_gram.py "${patched[-1]}"
    git apply -R "$patch" || exit
  done
else
  git apply "$1" || exit
fi
nvidia-smi --query-gpu=name,memory.total --format=csv > $WORK/device.txt
timeout ${SWEEP_LIMIT:-200} python3 -m benchmarks.sweep_gram --tiles-only --baseline $WORK/unpatched_flashsign_gram.py \
  "${patched[@]}" --shapes 2,16,8192,64 8,4,16384,16 2,4,32768,32 64,4,2048,16 1,16,16384,128 "${sweep_args[@]}" \
  --json $WORK/sweep.json \
  > $WORK/sweep.log 2>&1
if [ $# -eq 1 ]; then
  FLASHSIGN_FUZZ_GPU_CASES=2000 timeout ${FUZZ_LIMIT:-330} python3 -m pytest -q -m gpu -p no:cacheprovider -n 8 -rf \
    tests/kernels > $WORK/gpu_tests.log 2>&1
  tail -3 $WORK/gpu_tests.log
fi
tail -12 $WORK/sweep.log
tar czf $OUT/patch.tgz -C /tmp patch
