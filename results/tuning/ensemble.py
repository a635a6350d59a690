"""Seed ensembles on BEELINE replicates 0-2 (tuning only, results/TUNING.md): the chosen configuration
(width 64, pseudotime token, 30 epochs; curated knockout abs, synthetic knockout mean per regulator),
trained at seeds 0-2; each seed's effect matrices saved, then scored alone and averaged.
    TUNE_DATA=../shared/data/beeline NPROC=2 python results/tuning/ensemble.py 012 <out folder>
"""
import json, os, sys, time
from multiprocessing import Pool
from pathlib import Path
import numpy as np, pandas as pd, torch
sys.path.insert(0, str(Path(__file__).resolve().parents[2])); sys.path.insert(0, str(Path(__file__).parent))
import tune
from grn.perturbation import perturbation_effects
from grn.readout import edges_from_matrix
from grn.metrics import score_network

OUT = Path(sys.argv[2] if len(sys.argv) > 2 else "ensemble_out"); OUT.mkdir(exist_ok=True)
ROOT = Path(os.environ.get("TUNE_DATA", "../shared/data/beeline"))

def job(args):
    folder, seed = args
    f = OUT / f"{folder.name}_s{seed}.npz"
    if f.exists():
        return str(f)
    torch.set_num_threads(1)
    model, loader, ko, G, genes, _, _ = tune.train(folder, dict(tune.BASE, width=64, pt=True, seed=seed))
    mean = perturbation_effects(model, loader, G, "knockout", "mean", knockout_values=ko).numpy()
    absm = (perturbation_effects(model, loader, G, "knockout", "abs", knockout_values=ko).numpy()
            if folder.parent.parent.name == "curated" else mean)  # synthetic reads the mean alone
    np.savez(f, mean=mean, abs=absm, genes=np.array(genes))
    return str(f)

def score(folder, seeds):
    truth = pd.read_csv(folder / "refNetwork.csv")
    mats = [np.load(OUT / f"{folder.name}_s{s}.npz") for s in seeds]
    genes = list(mats[0]["genes"]); g = len(genes)
    mean = np.mean([m["mean"] for m in mats], 0)
    if folder.parent.parent.name == "synthetic":
        W = mean / (np.abs(mean).sum(0, keepdims=True) + 1e-12)
    else:
        W = np.mean([m["abs"] for m in mats], 0) * np.sign(mean)
    s = score_network(edges_from_matrix(W[:g, :g], genes), truth)
    return dict(dataset=folder.name, family=folder.parent.name, seeds=len(seeds), auprc_ratio=s["auprc_ratio"], sign_acc=s["sign_acc"])

if __name__ == "__main__":
    reps = sys.argv[1] if len(sys.argv) > 1 else "012"
    folders = sorted(ROOT.glob(f"*/*/*_2000_[{reps}]*"))
    jobs = [(f, s) for s in (0, 1, 2) for f in folders]
    with Pool(int(os.environ.get("NPROC", 2))) as pool:
        for i, r in enumerate(pool.imap_unordered(job, jobs)):
            if i % 10 == 0: print(i, len(jobs), time.strftime("%X"), flush=True)
    rows = [score(f, seeds) for f in folders for seeds in ((0,), (1,), (2,), (0, 1, 2))]
    d = pd.DataFrame(rows); d.to_csv(OUT / f"scores_rep{reps}.csv", index=False)
    med = d.groupby(["seeds", "family"]).auprc_ratio.median().unstack(0)
    print(med.round(2).to_string())
    print(d.groupby("seeds")[["sign_acc"]].mean().round(3).to_string())
