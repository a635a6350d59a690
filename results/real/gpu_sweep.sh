#!/usr/bin/env bash
# One device call (results/real/README.md): RegDiffusion with its defaults on all 8 real datasets, and our
# spherical model under a few training / read-out settings on the four TFs500 BEELINE sets (the tuning sets;
# the TFs1000 sets and McCalla's are held out), all at once on one GPU. Results packed into $OUT/sweep.tgz.
#   bash results/real/gpu_sweep.sh   (from the repo root, with .whl and .real carried)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONPATH=/tmp/site:. WORK=/tmp/sweep
mkdir -p $WORK
nvidia-smi --query-gpu=name,memory.total --format=csv > $WORK/device.txt
python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())" >> $WORK/device.txt
LIMIT=${LIMIT:-500}
common="trainer=gpu wandb.enabled=false"
for root in beeline mccalla; do
  timeout $LIMIT python3 -m grn.evaluate_real data_root=.real/$root out=$WORK/regdiffusion_$root $common \
    "~models.spherical" "~models.softmax" "peers=[regdiffusion]" > $WORK/regdiffusion_$root.log 2>&1 &
done
declare -A variants=(
  [e30]="trainer.max_epochs=30"
  [e300]="trainer.max_epochs=300 trainer.check_val_every_n_epoch=10"
  [e300_ro75]="trainer.max_epochs=300 trainer.check_val_every_n_epoch=10 readout.mask_fraction=0.75"
  [e300_m50_ro90]="trainer.max_epochs=300 trainer.check_val_every_n_epoch=10 data.loader.mask_fraction=0.5 readout.mask_fraction=0.9"
  [e300_attention]="trainer.max_epochs=300 trainer.check_val_every_n_epoch=10 readout.method=attention"
)
for name in "${!variants[@]}"; do
  for dataset in hHep_TFs500 mDC_TFs500 mESC_TFs500 mHSC-GM_TFs500; do
    mkdir -p $WORK/$name
    timeout $LIMIT python3 -m grn.evaluate_real data_root=.real/beeline datasets=$dataset out=$WORK/$name/$dataset \
      $common "~models.softmax" "peers=[]" ${variants[$name]} > $WORK/$name/$dataset.log 2>&1 &
  done
done
wait
find $WORK -name hydra -type d -prune -exec rm -rf {} +
tar czf $OUT/sweep.tgz -C /tmp sweep
