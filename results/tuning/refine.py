"""The refine step's choices (grn/refine.py, configs/evaluate.yaml `refine`) on BEELINE replicates 0-2
(tuning only, results/TUNING.md): the knockout matrices of three seeds saved by ensemble.py, refined by
grn.refine under each step of an ablation ladder, and scored by grn.metrics.
    TUNE_DATA=../shared/data/beeline python results/tuning/refine.py <ensemble.py's out folder> <scores.csv>
"""
import os, sys
from pathlib import Path
import numpy as np, pandas as pd
from omegaconf import OmegaConf
sys.path.insert(0, str(Path(__file__).resolve().parents[2])); sys.path.insert(0, str(Path(__file__).parent))
import tune
from grn.metrics import score_network
from grn.readout import edges_from_matrix
from grn.refine import data_evidence, refine

ROOT = Path(os.environ.get("TUNE_DATA", "../shared/data/beeline")); ENS = Path(sys.argv[1])
ORIENT = dict(bins=40, lags=[1, 2, 4, 6], sharpness=20, pooling="mean", strength_power=0)
SESSION3 = dict(balance=False, orient=ORIENT, sign_votes=["effect"])  # the read-out before this step
VOTES = {"curated": ["effect", "reverse_effect", "correlation"], "synthetic": ["effect", "lagged_correlation", "correlation"]}


def ladder(group):
    """Each variant adds one change to the one before; the last is what configs/evaluate.yaml ships."""
    curated = group == "curated"
    signs = {**SESSION3, "sign_votes": VOTES[group]}
    balanced = {**signs, "balance": curated, "orient": {**ORIENT, "pooling": "mean" if curated else "max"}}
    strength = {**balanced, "orient": {**balanced["orient"], "strength_power": 0 if curated else 0.5}}
    pooled = {**strength, "orient": {**strength["orient"], "pooling": "p4" if curated else "max"}}
    return {"session 3": SESSION3, "+ sign votes": signs, "+ balance (cur), max pooling (syn)": balanced,
            "+ lag strength^0.5 (syn)": strength, "+ p4 pooling (cur) = shipped": pooled}


rows = []
for folder in sorted(ROOT.glob("synthetic/*/*_2000_[012]*")) + sorted(ROOT.glob("curated/*/*_2000_[012]*")):
    X, genes, _, truth = tune.load(folder)
    e = pd.read_csv(folder / "ExpressionData.csv", index_col=0)
    pseudotimes = pd.read_csv(folder / "PseudoTime.csv", index_col=0).reindex(e.columns).to_numpy(float)
    group = folder.parent.parent.name
    g = len(genes)
    for name, options in ladder(group).items():
        options = OmegaConf.create(options)
        evidence = data_evidence(X, pseudotimes, options)
        for seed in range(3):
            m = np.load(ENS / f"{folder.name}_s{seed}.npz")
            mean, magnitude = m["mean"][:g, :g], m["abs"][:g, :g]  # as read_network gives them, sliced
            weights = magnitude * np.sign(mean) if group == "curated" else mean / (np.abs(mean).sum(0, keepdims=True) + 1e-12)
            s = score_network(edges_from_matrix(refine(weights, evidence, options), genes), truth)
            rows.append(dict(family=folder.parent.name, dataset=folder.name, seed=seed, variant=name,
                             auprc_ratio=s["auprc_ratio"], sign_acc=s["sign_acc"]))
d = pd.DataFrame(rows)
d.to_csv(sys.argv[2], index=False)
order = list(ladder("curated"))
families = ["GSD", "HSC", "VSC", "mCAD", "dyn-BF", "dyn-BFC", "dyn-CY", "dyn-LI", "dyn-LL", "dyn-TF"]
med = d.groupby(["variant", "seed", "family"]).auprc_ratio.median().unstack(2)[families]
summary = med.groupby(level=0).mean().loc[order].round(2)  # per-seed medians, averaged over seeds
summary["sign acc"] = d.groupby("variant").sign_acc.mean().loc[order].round(3)
pd.set_option("display.width", 250)
print(summary.to_string())
