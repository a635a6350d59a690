#!/usr/bin/env bash
# One device call (results/real/README.md): every line of a plan is one `python -m grn.evaluate_real` run, in
# plan order, PARALLEL (default 8) at a time on the one GPU (too many share it too thinly), each stopped at
# LIMIT seconds (default 480) after the call began; their outputs are packed into $OUT/<plan name>.tgz.
#   bash results/real/gpu_plan.sh results/real/plans/gpu1.txt   (repo root; .whl and .real carried: README.md)
# A plan line: <name> <beeline|mccalla> <dataset pattern> [overrides...]; '#' starts a comment.
plan=$1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
# one CPU thread per run: the runs share the machine's cores, and torch would start a thread per core in each
export PYTHONPATH=/tmp/site:. WORK=/tmp/$(basename $plan .txt) OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
mkdir -p $WORK
cp $plan $WORK/plan.txt
nvidia-smi --query-gpu=name,memory.total --format=csv > $WORK/device.txt
python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())" >> $WORK/device.txt
set -f  # plan overrides like peers=[pearson] are words, not file patterns
while read -r name root pattern overrides; do
  while [ $(jobs -rp | wc -l) -ge ${PARALLEL:-8} ]; do wait -n; done
  left=$(( ${LIMIT:-480} - SECONDS ))
  if [ $left -le 60 ]; then  # too little time left to train anything: say which lines did not run
    echo "$name $root $pattern $overrides" >> $WORK/not_run.txt; continue
  fi
  run=$WORK/$name/$root-${pattern//\*/all}  # one folder per line
  mkdir -p $run
  timeout -k 10 $left python3 -m grn.evaluate_real data_root=.real/$root "datasets=$pattern" out=$run \
    trainer=gpu wandb.enabled=false $overrides < /dev/null > $run.log 2>&1 &
done < <(grep -v '^\s*\(#\|$\)' $plan)
wait
find $WORK -name hydra -type d -prune -exec rm -rf {} +
# the networks (<method>.tsv, up to 10^6 edges each) stay behind: the scores, timings and logs come back
tar czf $OUT/$(basename $WORK).tgz --exclude="*.tsv" -C /tmp $(basename $WORK)
