#!/usr/bin/env bash
# One device call for issue 21: the kernel benchmark (bf16, every shape, side by side with SDPA's backends,
# plain-torch Gram eager and compiled, and the measured-copy roofline), the GRN training-step benchmark,
# and the GPU fuzz of FlashSign against the float64 reference. Results packed into $OUT/kernels.tgz.
#   bash results/kernels/gpu_kernels.sh   (from the repo root)
export PYTHONPATH=. WANDB_MODE=disabled WORK=/tmp/kernels
mkdir -p $WORK
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv > $WORK/device.txt
python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())" >> $WORK/device.txt
timeout ${BENCH_LIMIT:-240} python3 -m benchmarks.kernels --dtypes bf16 --markdown $WORK/BENCHMARKS.md \
  --json $WORK/benchmarks.json > $WORK/kernels.log 2>&1
timeout ${STEP_LIMIT:-120} python3 -m benchmarks.train_step --markdown $WORK/train_step.md \
  --json $WORK/train_step.json > $WORK/train_step.log 2>&1
FLASHSIGN_FUZZ_GPU_CASES=${FUZZ_CASES:-2000} timeout ${FUZZ_LIMIT:-200} python3 -m pytest -q -m gpu -p no:cacheprovider \
  -n 8 tests/kernels > $WORK/gpu_tests.log 2>&1
tar czf $OUT/kernels.tgz -C /tmp kernels
