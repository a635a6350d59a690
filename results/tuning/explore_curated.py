"""Scratch sweep behind session 8 of results/TUNING.md (curated refine variants, replicates 0-2 only):
ensemble.py's saved knockout matrices (seeds 0-2) refined under each variant by a re-implementation of
grn.refine with extra knobs (sym: add that fraction of the reverse magnitude; symop: max/geo/min of the
two directions; balance: exponent; floor: orientation floor; sharp, pool, bins, lags, strength; ens: the
three seeds averaged), scored by grn.metrics. Cells: per-seed family medians averaged over seeds.
    TUNE_DATA=<curated replicates 0-2> python results/tuning/explore_curated.py <ensemble out> [families]
"""
import os, sys, itertools
from pathlib import Path
import numpy as np, pandas as pd
from omegaconf import OmegaConf
sys.path.insert(0, str(Path(__file__).resolve().parents[2])); sys.path.insert(0, str(Path(__file__).parent))
import tune
from grn.metrics import score_network
from grn.readout import edges_from_matrix
from grn.refine import data_evidence
from grn.direction import pseudotime_lead, pair_strength, lagged_correlations

ROOT = Path(os.environ.get("TUNE_DATA", "../shared/data/beeline")); ENS = Path(sys.argv[1])
FAMS = sys.argv[2].split(",") if len(sys.argv) > 2 else ["GSD", "HSC", "VSC", "mCAD"]
SEEDS = tuple(int(s) for s in os.environ.get("SEEDS", "012"))

def variant(mean, absm, ev, lagged, corr, o):
    W = absm if o.get("mode", "abs") == "abs" else np.abs(mean)
    sign = np.sign(np.sign(mean) + np.sign(mean.T) + np.sign(corr)); sign[sign == 0] = 1
    M = np.abs(W)
    if o.get("sym", 0):
        M = M + o["sym"] * M.T
    if o.get("symop"):
        M = {"max": np.maximum(M, M.T), "geo": np.sqrt(M * M.T), "min": np.minimum(M, M.T)}[o["symop"]]
    bp = o.get("balance", 0.5)
    if bp:
        M = M / ((M.sum(1, keepdims=True) * M.sum(0, keepdims=True)) ** bp + 1e-24)
    if o.get("sym_after", 0):
        M = M + o["sym_after"] * M.T
    if o.get("orient", True):
        lead = pseudotime_lead(lagged, o.get("pool", "p4"))
        s = 1 / (1 + np.exp(-o.get("sharp", 20) * lead))
        f = o.get("floor", 0.0)
        M = M * (f + (1 - f) * s)
        if o.get("strength", 0):
            M = M * pair_strength(lagged) ** o["strength"]
    return M * sign

def run(variants, cache={}):
    rows = []
    for fam in FAMS:
        for folder in sorted(ROOT.glob(f"curated/{fam}/*_2000_[012]*")):
            if folder not in cache:
                X, genes, _, truth = tune.load(folder)
                e = pd.read_csv(folder / "ExpressionData.csv", index_col=0)
                pts = pd.read_csv(folder / "PseudoTime.csv", index_col=0).reindex(e.columns).to_numpy(float)
                lag = {}
                corr = np.nan_to_num(np.corrcoef(X, rowvar=False))
                mats = [np.load(ENS / f"{folder.name}_s{s}.npz") for s in SEEDS]
                cache[folder] = (X, genes, truth, pts, corr, mats, lag)
            X, genes, truth, pts, corr, mats, lag = cache[folder]
            g = len(genes)
            for name, o in variants.items():
                key = (o.get("bins", 40), tuple(o.get("lags", (1, 2, 4, 6))))
                if key not in lag:
                    lag[key] = lagged_correlations(X, pts, key[0], list(key[1]))
                seedsets = [(s,) for s in SEEDS] if not o.get("ens") else [SEEDS]
                for ss in seedsets:
                    mean = np.mean([mats[s]["mean"][:g, :g] for s in ss], 0)
                    absm = np.mean([mats[s]["abs"][:g, :g] for s in ss], 0)
                    W = variant(mean, absm, None, lag[key], corr, o)
                    sc = score_network(edges_from_matrix(W, genes), truth)
                    rows.append(dict(family=fam, dataset=folder.name, seed=str(ss), variant=name,
                                     auprc_ratio=sc["auprc_ratio"], sign_acc=sc["sign_acc"], epr=sc["epr"]))
    return pd.DataFrame(rows)

def summary(d, order):
    med = d.groupby(["variant", "seed", "family"]).auprc_ratio.median().unstack(2)
    out = med.groupby(level=0).mean().loc[order][[f for f in FAMS if f in med.columns]].round(3)
    out["sign"] = d.groupby("variant").sign_acc.mean().loc[order].round(3)
    return out

if __name__ == "__main__":
    V = {"shipped": {}, "no orient": {"orient": False}, "no balance": {"balance": 0}}
    for sh in (5, 10, 20):
        for f in (0, .2, .5):
            for sy in (0, .5):
                V[f"sharp {sh} floor {f} sym {sy}"] = {"sharp": sh, "floor": f, "sym": sy}
    for sh in (10, 20, 40):
        for sy in (.25, .5, .75, 1.0):
            V[f"sharp {sh} sym {sy}"] = {"sharp": sh, "sym": sy}
    V.update({"sym max": {"symop": "max"}, "sym geo": {"symop": "geo"}, "balance then sym 1": {"sym_after": 1.0},
              "sym 1 pool mean": {"sym": 1.0, "pool": "mean"}, "sym 1 pool max": {"sym": 1.0, "pool": "max"},
              "sym 1 no balance": {"sym": 1.0, "balance": 0}, "sym 1 balance^.25": {"sym": 1.0, "balance": .25},
              "sym 1 balance^.75": {"sym": 1.0, "balance": .75}, "sym 1 strength .5": {"sym": 1.0, "strength": .5},
              "sym 1 sharp 15": {"sym": 1.0, "sharp": 15}, "sym 1 sharp 30": {"sym": 1.0, "sharp": 30},
              "sym 1 30 bins lags 1-3": {"sym": 1.0, "bins": 30, "lags": (1, 2, 3)},
              "sym 1 60 bins lags 2,4,8": {"sym": 1.0, "bins": 60, "lags": (2, 4, 8)},
              "3 seeds": {"ens": True}, "3 seeds sym 1": {"ens": True, "sym": 1.0}, "3 seeds sym .5": {"ens": True, "sym": .5}})
    d = run(V)
    pd.set_option("display.width", 250); pd.set_option("display.max_rows", 500)
    print(summary(d, list(V)).to_string())
