"""The curated group's mask fraction (configs/evaluate.yaml) on BEELINE replicates 0-2 (tuning only,
results/TUNING.md, session 9): the shipped curated configuration trained at seeds 0-4 with 25% of genes
hidden per cell, and at seeds 0-2 with 50%; each model's knockout matrices saved, then read out as
grn.evaluate does (per-seed signed |effect|, grn.evaluate.seed_average, grn.refine with the shipped
curated options) and scored by grn.metrics.
    TUNE_DATA=<folder of curated/<family>/<dataset>, replicates 0-2> NPROC=2 \
    python results/tuning/mask.py <out folder> <scores.csv>
"""
import os, sys, time
from multiprocessing import Pool
from pathlib import Path
import numpy as np, pandas as pd, torch
from omegaconf import OmegaConf
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO)); sys.path.insert(0, str(Path(__file__).parent))
import tune
from grn.evaluate import seed_average
from grn.metrics import score_network
from grn.perturbation import perturbation_effects
from grn.readout import edges_from_matrix
from grn.refine import data_evidence, refine

ROOT = Path(os.environ.get("TUNE_DATA", "../shared/data/beeline")); OUT = Path(sys.argv[1])
SHIPPED = dict(tune.BASE, width=64, pt=True)
VARIANTS = {"mask 25%": ({}, range(5)), "mask 50%": ({"mask": 0.5}, range(3))}
SCORED = {"mask 25%, 1 seed (mean of seeds 0-2)": ("mask 25%", [[0], [1], [2]]),
          "mask 25%, 3 seeds": ("mask 25%", [[0, 1, 2]]), "mask 25%, 5 seeds": ("mask 25%", [[0, 1, 2, 3, 4]]),
          "mask 50%, 1 seed (mean of seeds 0-2)": ("mask 50%", [[0], [1], [2]]),
          "mask 50%, 3 seeds (chosen)": ("mask 50%", [[0, 1, 2]])}

def path(variant, folder, seed):
    return OUT / variant.replace(" ", "").replace("%", "") / f"{folder.name}_s{seed}.npz"

def job(args):
    folder, seed, variant = args
    f = path(variant, folder, seed)
    if not f.exists():
        torch.set_num_threads(1)
        model, loader, ko, G, genes, _, _ = tune.train(folder, dict(SHIPPED, **VARIANTS[variant][0], seed=seed))
        mats = {r: perturbation_effects(model, loader, G, "knockout", r, knockout_values=ko).numpy() for r in ("mean", "abs")}
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_suffix(".tmp.npz"); np.savez(tmp, genes=np.array(genes), **mats); tmp.rename(f)
    return f.name

def score(folder, options):
    X, genes, _, truth = tune.load(folder)
    e = pd.read_csv(folder / "ExpressionData.csv", index_col=0)
    pseudotimes = pd.read_csv(folder / "PseudoTime.csv", index_col=0).reindex(e.columns).to_numpy(float)
    evidence = data_evidence(X, pseudotimes, options); g = len(genes)
    for name, (variant, groups) in SCORED.items():
        scores = []
        for seeds in groups:
            mats = [np.load(path(variant, folder, s)) for s in seeds]
            w = seed_average([m["abs"][:g, :g] * np.sign(m["mean"][:g, :g]) for m in mats])
            scores.append(score_network(edges_from_matrix(refine(w, evidence, options), genes), truth))
        yield dict(family=folder.parent.name, dataset=folder.name, variant=name,
                   auprc_ratio=np.mean([s["auprc_ratio"] for s in scores]), sign_acc=np.mean([s["sign_acc"] for s in scores]))

if __name__ == "__main__":
    folders = sorted(ROOT.glob("curated/*/*_2000_[012]*"))
    jobs = [(f, s, v) for f in folders for v, (_, seeds) in VARIANTS.items() for s in seeds]
    with Pool(int(os.environ.get("NPROC", 2))) as pool:
        for i, name in enumerate(pool.imap_unordered(job, jobs)):
            print(i, len(jobs), time.strftime("%X"), name, flush=True)
    options = OmegaConf.load(REPO / "configs/evaluate.yaml").refine
    d = pd.DataFrame([row for f in folders for row in score(f, options)])
    d.to_csv(sys.argv[2], index=False)
    table = d.groupby(["variant", "family"]).auprc_ratio.median().unstack()
    table["sign acc"] = d.groupby("variant").sign_acc.mean()
    table.loc["GENIE3 (our run)"] = pd.read_csv(Path(__file__).parent / "genie3_rep0-2.csv").groupby("family").auprc_ratio.median()
    print(table.round(2).to_string())
