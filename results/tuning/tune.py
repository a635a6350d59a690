"""The tuning sweep on BEELINE replicates 0-2 behind results/TUNING.md (kept for provenance).

A standalone loop (no scanpy/Hydra/Lightning, so that it ran on a 16-core machine with plain torch):
the same GRNTransformer, AdamW + OneCycle schedule, 25% masking, 90% training split, log1p + per-gene
standardisation, and the grn.perturbation / grn.readout read-outs as `python -m grn.evaluate`.
    TUNE_DATA=<folder holding only replicates 0-2, laid out <group>/<family>/<dataset>> \
    python results/tuning/tune.py '[{}, {"pt": true}, {"norm": "softmax"}]' <out folder>
"""
import itertools, json, os, sys, time
from multiprocessing import Pool
from pathlib import Path
import numpy as np, pandas as pd, torch
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from grn.model import GRNTransformer
from grn.perturbation import perturbation_effects
from grn.readout import attention_maps, network_from_maps, edges_from_matrix
from grn.metrics import score_network

ROOT = Path(os.environ.get("TUNE_DATA", "data"))
BASE = dict(width=32, heads=4, depth=2, epochs=30, mask=0.25, lr=3e-3, bs=64, pt=False, norm="l2", seed=0, wd=0.01)

def load(folder):
    e = pd.read_csv(folder / "ExpressionData.csv", index_col=0)
    X = np.log1p(e.to_numpy(np.float64).T); genes = list(e.index)
    # pseudotime: each cell's earliest trajectory time, scaled to [0, 1] per trajectory
    T = pd.read_csv(folder / "PseudoTime.csv", index_col=0).reindex(e.columns).to_numpy(float)
    T = T / np.nanmax(T, axis=0, keepdims=True)
    pt = np.nan_to_num(np.nanmin(T, axis=1), nan=0.0)
    return X, genes, pt, pd.read_csv(folder / "refNetwork.csv")

def train(folder, c):
    """One dataset's model trained under config c, the read-out batches (a fixed random 400 cells, or
    c["cells"]), the standardised knockout levels, the gene names and truth, and the training seconds."""
    X, genes, pt, truth = load(folder)
    if c["pt"]:
        X = np.column_stack([X, pt])
    Z = (X - X.mean(0)) / np.where(X.std(0) > 1e-8, X.std(0), 1)
    G = Z.shape[1]
    torch.manual_seed(c["seed"]); rng = np.random.default_rng(c["seed"])
    model = GRNTransformer(G, c["width"], c["heads"], c["depth"], 2, c["norm"])
    opt = torch.optim.AdamW(model.parameters(), lr=c["lr"], weight_decay=c["wd"])
    train = rng.permutation(len(Z))[round(0.1 * len(Z)):]
    xt = torch.tensor(Z[train], dtype=torch.float32); n = len(xt); bs = c["bs"]
    steps = c["epochs"] * -(-n // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, c["lr"], total_steps=steps, pct_start=0.1)
    nh = max(1, round(c["mask"] * G)); t0 = time.time()
    for ep in range(c["epochs"]):
        perm = torch.randperm(n)
        for b in range(0, n, bs):
            x = xt[perm[b:b + bs]]
            hidden = torch.zeros_like(x, dtype=torch.bool)
            hidden.scatter_(1, torch.rand(x.shape).argsort(1)[:, :nh], True)
            pred = model(torch.arange(G).expand(len(x), G), x, hidden)
            loss = ((pred - x) ** 2)[hidden].mean()
            opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step(); sched.step()
    ttrain = time.time() - t0
    xa = torch.tensor(Z[np.random.default_rng(1).permutation(len(Z))[:c.get("cells", 400)]], dtype=torch.float32)
    loader = [(torch.arange(G).expand(len(xa[i:i+256]), G), xa[i:i+256], torch.zeros(len(xa[i:i+256]), G, dtype=torch.bool)) for i in range(0, len(xa), 256)]
    ko = torch.tensor(-X.mean(0) / np.where(X.std(0) > 1e-8, X.std(0), 1), dtype=torch.float32)
    return model, loader, ko, G, genes, truth, ttrain

def job(args):
    folder, cfg = args
    torch.set_num_threads(1)
    c = dict(BASE, **cfg)
    model, loader, ko, G, genes, truth, ttrain = train(folder, c)
    nets = {}
    for m, r in [("jacobian", "mean"), ("knockout", "mean"), ("knockout", "abs"), ("raise", "mean")]:
        E = perturbation_effects(model, loader, G, m, r, knockout_values=ko).numpy()
        if r == "abs":
            E = E * np.sign(perturbation_effects(model, loader, G, m, "mean", knockout_values=ko).numpy())
        nets[f"{m}_{r}"] = E
    E = nets["jacobian_mean"]
    E = nets["knockout_mean"]
    nets["knockout_colnorm"] = E / (np.abs(E).sum(0, keepdims=True) + 1e-12)
    nets["knockout_rownorm"] = E / (np.abs(E).sum(1, keepdims=True) + 1e-12)
    E = nets["jacobian_mean"]
    nets["jacobian_colnorm"] = E / (np.abs(E).sum(0, keepdims=True) + 1e-12)
    maps = attention_maps(model, loader, G, c["norm"])
    out = []
    for k, W in nets.items():
        s = score_network(edges_from_matrix(W[:len(genes), :len(genes)], genes), truth)
        out.append(dict(cfg=json.dumps(cfg, sort_keys=True), readout=k, dataset=folder.name, family=folder.parent.name, auprc_ratio=s["auprc_ratio"], sign_acc=s["sign_acc"], epr=s["epr"], t=ttrain))
    for mode in ("abs", "rank"):
        s = score_network(network_from_maps(maps[..., :len(genes), :len(genes)], genes, mode), truth)
        out.append(dict(cfg=json.dumps(cfg, sort_keys=True), readout="attn_" + mode, dataset=folder.name, family=folder.parent.name, auprc_ratio=s["auprc_ratio"], sign_acc=s["sign_acc"], epr=s["epr"], t=ttrain))
    return out

def peers():
    rows = []
    for f in sorted(ROOT.glob("*/*/*")):
        truth = pd.read_csv(f / "refNetwork.csv")
        for p in sorted((f / "peers").glob("*.csv")):
            s = score_network(pd.read_csv(p, sep="\t"), truth)
            rows.append(dict(cfg="peer", readout=p.stem, dataset=f.name, family=f.parent.name, auprc_ratio=s["auprc_ratio"], sign_acc=s["sign_acc"], epr=s["epr"], t=0))
    return rows

if __name__ == "__main__":
    configs = json.loads(sys.argv[1]); outdir = Path(sys.argv[2]); outdir.mkdir(parents=True, exist_ok=True)
    folders = sorted(ROOT.glob("*/*/*"))
    if len(sys.argv) > 3: folders = [f for f in folders if any(s in f.name for s in sys.argv[3].split(","))]
    jobs = [(f, c) for c in configs for f in folders]
    rows = []
    with Pool(int(os.environ.get("NPROC", os.cpu_count()))) as pool:
        for i, r in enumerate(pool.imap_unordered(job, jobs)):
            rows += r
            if i % 20 == 0: print(i, len(jobs), time.strftime("%X"), flush=True); pd.DataFrame(rows).to_csv(outdir / "tune.csv", index=False)
    if os.environ.get("PEERS"): rows += peers()
    pd.DataFrame(rows).to_csv(outdir / "tune.csv", index=False)
