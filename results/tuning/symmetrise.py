"""The curated group's `refine.symmetrise` (grn/refine.py, configs/evaluate.yaml) on BEELINE replicates 0-2
(tuning only, results/TUNING.md): the knockout matrices of seeds 0-2 saved by ensemble.py, refined by
grn.refine as shipped before and with each edge's magnitude summed over both directions, scored by
grn.metrics; next to our GENIE3 run (genie3_curated.py) and the twelve peers (peers_rep0-2.csv).
    TUNE_DATA=<folder of curated/<family>/<dataset>, replicates 0-2> \
    python results/tuning/symmetrise.py <ensemble.py's out folder> <genie3 csv> <scores.csv>
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
FAMILIES = ["GSD", "HSC", "VSC", "mCAD"]
SHIPPED = dict(balance=True, orient=dict(bins=40, lags=[1, 2, 4, 6], sharpness=20, pooling="p4", strength_power=0),
               sign_votes=["effect", "reverse_effect", "correlation"])  # curated, before this change
VARIANTS = {"shipped before": SHIPPED, "+ symmetrise": {**SHIPPED, "symmetrise": True},
            "+ symmetrise, sharpness 10": {**SHIPPED, "symmetrise": True, "orient": {**SHIPPED["orient"], "sharpness": 10}},
            "no orientation (reference)": {**SHIPPED, "orient": None}}

rows = []
for folder in sorted(ROOT.glob("curated/*/*_2000_[012]*")):
    X, genes, _, truth = tune.load(folder)
    e = pd.read_csv(folder / "ExpressionData.csv", index_col=0)
    pseudotimes = pd.read_csv(folder / "PseudoTime.csv", index_col=0).reindex(e.columns).to_numpy(float)
    g = len(genes)
    mats = [np.load(ENS / f"{folder.name}_s{seed}.npz") for seed in range(3)]
    for name, options in VARIANTS.items():
        options = OmegaConf.create(options)
        evidence = data_evidence(X, pseudotimes, options)
        for seeds in ((0,), (1,), (2,), (0, 1, 2)):  # one seed each, and the three averaged (ensemble.py's way)
            mean = np.mean([mats[s]["mean"][:g, :g] for s in seeds], 0)
            weights = np.mean([mats[s]["abs"][:g, :g] for s in seeds], 0) * np.sign(mean)
            s = score_network(edges_from_matrix(refine(weights, evidence, options), genes), truth)
            rows.append(dict(family=folder.parent.name, dataset=folder.name, seeds="".join(map(str, seeds)),
                             variant=name, auprc_ratio=s["auprc_ratio"], sign_acc=s["sign_acc"]))
d = pd.DataFrame(rows)
d.to_csv(sys.argv[3], index=False)
one = d[d.seeds.str.len() == 1]
table = one.groupby(["variant", "seeds", "family"]).auprc_ratio.median().unstack(2).groupby(level=0).mean()
table["sign acc"] = one.groupby("variant").sign_acc.mean()
three = d[d.seeds == "012"]
avg = three.groupby(["variant", "family"]).auprc_ratio.median().unstack(1)
avg["sign acc"] = three.groupby("variant").sign_acc.mean()
avg.index = [f"{v}, 3 seeds averaged" for v in avg.index]
genie3 = pd.read_csv(sys.argv[2]).groupby("family").auprc_ratio.median().rename("GENIE3 (our run)")
peers = pd.read_csv(Path(__file__).parent / "peers_rep0-2.csv")
peers = peers[peers.family.isin(FAMILIES)].groupby(["readout", "family"]).auprc_ratio.median().unstack()
out = pd.concat([table.loc[list(VARIANTS)], avg.loc[[f"{v}, 3 seeds averaged" for v in VARIANTS]],
                 genie3.to_frame().T, peers.loc[["GENIE3"]].rename(index={"GENIE3": "GENIE3 (BEELINE)"}),
                 peers.max().rename("best of the 12 peers").to_frame().T])[FAMILIES + ["sign acc"]]
# dataset x seed pairs up / down against the shipped read-out
base = one[one.variant == "shipped before"].set_index(["dataset", "seeds"]).auprc_ratio
new = one[one.variant == "+ symmetrise"].set_index(["dataset", "seeds", "family"]).auprc_ratio
diff = new.reset_index("family").assign(d=lambda t: t.auprc_ratio - base.reindex(t.index))
pd.set_option("display.width", 250)
print(out.round(3).to_string())
print(diff.groupby("family").d.agg(up=lambda z: int((z > 1e-12).sum()), down=lambda z: int((z < -1e-12).sum())).to_string())
