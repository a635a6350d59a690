"""Our GENIE3 run (grn.scoring.baselines.genie3, as `python -m grn.evaluate` runs it: log1p expression, 100 trees,
seed 0) on the curated datasets of replicates 0-2, for the curated read-out sweep (results/TUNING.md).
    TUNE_DATA=<folder of curated/<family>/<dataset>> python results/tuning/genie3_curated.py <out.csv>
"""
import os, sys
from pathlib import Path
import numpy as np, pandas as pd
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from grn.scoring.baselines import genie3
from grn.scoring.metrics import score_network

ROOT = Path(os.environ.get("TUNE_DATA", "../shared/data/beeline"))
rows = []
folders = sorted(ROOT.glob("curated/*/*_2000_[012]*"), key=lambda f: (f.parent.name != "VSC", str(f)))  # VSC first
for folder in folders:
    e = pd.read_csv(folder / "ExpressionData.csv", index_col=0)
    X = np.log1p(e.to_numpy(np.float64).T).astype(np.float32)
    s = score_network(genie3(X, list(e.index)), pd.read_csv(folder / "refNetwork.csv"))
    rows.append(dict(family=folder.parent.name, dataset=folder.name, auprc_ratio=s["auprc_ratio"], epr=s["epr"]))
    print(rows[-1], flush=True)
    pd.DataFrame(rows).to_csv(sys.argv[1], index=False)
pd.DataFrame(rows).to_csv(sys.argv[1], index=False)
