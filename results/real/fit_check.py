"""How well the GRN transformer fits a real dataset: its validation loss (masked-gene MSE on standardised values;
1.0 = predicting each gene's mean) under a few training settings, through the run core.

    python results/real/fit_check.py mHSC-GM_TFs500 "trainer.max_steps=250" "trainer.max_steps=2000" ...
(configs/evaluate_real.yaml validates every 250 steps; the runs in README.md set max_epochs instead, before it did)
"""
import sys, time
from pathlib import Path
from hydra import compose, initialize_config_dir
from grn.data.real import load_real
from grn.data.preprocess import preprocess
from grn.run import run
name = sys.argv[1]
data = None
for overrides in [a.split() for a in sys.argv[2:]]:
    with initialize_config_dir(config_dir=str(Path("configs").resolve()), version_base="1.3"):
        cfg = compose("evaluate_real", overrides=["paths.root_dir=.", "readout.method=attention", "readout.mode=raw", "readout.max_cells=50", *overrides])
    if data is None:
        data = preprocess(load_real(f"../shared/data/real/beeline/{name}"), **cfg.data.preprocess)
    t = time.time()
    net = run(cfg, data=data)
    print(name, overrides, "val_loss", net.metrics.get("val_loss"), "s", round(time.time() - t), flush=True)
