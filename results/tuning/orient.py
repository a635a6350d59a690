"""Pseudotime orientation sweep on BEELINE replicates 0-2 (tuning only, results/TUNING.md): the
seed-0 knockout matrices saved by ensemble.py, oriented with the lead/lag weighting of grn/direction.py
at several bin counts, lag sets and sharpnesses, and scored.
    TUNE_DATA=../shared/data/beeline python results/tuning/orient.py <ensemble.py's out folder> <scores.csv>
"""
import sys, itertools
from pathlib import Path
import numpy as np, pandas as pd
sys.path.insert(0, str(Path(__file__).resolve().parents[2])); sys.path.insert(0, str(Path(__file__).parent))
import tune
from grn.readout import edges_from_matrix
from grn.metrics import score_network
import os
ROOT = Path(os.environ.get("TUNE_DATA", "../shared/data/beeline")); ENS = Path(sys.argv[1])

def branch_trajectories(X, folder, bins):
    """Per pseudotime branch: cells sorted by time, averaged in `bins` equal-count bins -> (bins, G)."""
    e = pd.read_csv(folder / "ExpressionData.csv", index_col=0)
    T = pd.read_csv(folder / "PseudoTime.csv", index_col=0).reindex(e.columns)
    out = []
    for col in T.columns:
        t = T[col].to_numpy(float); ok = np.isfinite(t)
        if ok.sum() < 2 * bins: continue
        order = np.argsort(t[ok]); xs = X[ok][order]
        out.append(np.stack([c.mean(0) for c in np.array_split(xs, bins)]))
    return out

def lead(trajs, lags):
    """L[i, j]: how much j leads i (max over lags of corr(x_j(t-L), x_i(t))), minus i leading j."""
    G = trajs[0].shape[1]; A = np.zeros((G, G))
    for tr in trajs:
        z = (tr - tr.mean(0)) / (tr.std(0) + 1e-9)
        best = np.zeros((G, G))
        for L in lags:
            c = z[L:].T @ z[:-L] / (len(z) - L)  # c[i, j] = corr(x_i(t), x_j(t-L)): j leads i
            best = np.where(np.abs(c) > np.abs(best), c, best)
        A += np.abs(best) / len(trajs)
    return A - A.T

rows = []
for folder in sorted(ROOT.glob("synthetic/*/*_2000_[012]*")) + sorted(ROOT.glob("curated/*/*_2000_[012]*")):
    X, genes, pt, truth = tune.load(folder)
    m = np.load(ENS / f"{folder.name}_s0.npz"); g = len(genes)
    if folder.parent.parent.name == "synthetic":
        W = m["mean"] / (np.abs(m["mean"]).sum(0, keepdims=True) + 1e-12)
    else:
        W = m["abs"] * np.sign(m["mean"])
    W = W[:g, :g]
    variants = {"base": W}
    for bins in (30, 40, 60):
        trajs = branch_trajectories(X, folder, bins)
        for lags in ((1, 2, 4, 6), (1, 2, 3), (2, 4, 8)):
            D = lead(trajs, lags)
            for beta in (10, 20, 50):
                variants[f"b{bins} l{''.join(map(str, lags))} beta{beta}"] = W / (1 + np.exp(-beta * D))
    for name, V in variants.items():
        s = score_network(edges_from_matrix(V, genes), truth)
        rows.append(dict(family=folder.parent.name, dataset=folder.name, variant=name, auprc_ratio=s["auprc_ratio"], sign_acc=s["sign_acc"]))
d = pd.DataFrame(rows)
d.to_csv(sys.argv[2], index=False)
med = d.groupby(["variant", "family"]).auprc_ratio.median().unstack(1).round(2)
pd.set_option("display.width", 250)
print(med.to_string())
print(d.groupby("variant").sign_acc.mean().round(3).to_string())
