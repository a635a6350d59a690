"""Peers for the real-cell benchmark, run on the inputs and candidates our model gets.

Every peer takes `(X, genes, regulators, seed=0)`: `X` the cells x genes matrix our model sees, the
gene names, and the regulators (the evaluated regulators of the protocol, a TF list); it returns a table
`source, target, weight` with one row per regulator -> gene pair but self-loops, by |weight| descending.

- genie3, grnboost2: our re-implementations (`grn.scoring.baselines`), each target regressed on the
  regulators alone, targets fitted on every core. GENIE3: 100 trees. GRNBoost2: arboreto's out-of-bag
  early stopping (`early_stopping="oob"`), which stops after tens of rounds on these cells where the
  held-out split of the BEELINE table runs hundreds.
- arboreto_grnboost2: arboreto's own code (`arboreto.core.infer_partial_network` per target; its dask
  entry points fail with current dask), in the `bench` extra.
- pearson, spearman: correlation of each regulator with each gene, signed (ranked by |r|).
- regdiffusion: RegDiffusion (Zhu & Slonim 2024), in the `bench` extra, with its default settings.

Cost on 2 CPU cores (CPU seconds per target, measured one process at a time, halved), with the union
of the truths' regulators: GENIE3 1.7-3.8 min per BEELINE dataset (0.25-0.41 s a target) and 6 and 8
min for McCalla's hESC (8,595 genes, 74 regulators) and mESC (10,243, 140); GRNBoost2 0.3-1.2 min and
1.0 and 1.5 min; the correlations seconds (20-30 s on McCalla, the full correlation matrix). RegDiffusion
took 17 min for mHSC-GM_TFs500 on 2 shared cores; whole-transcriptome sets want the GPU.
"""
import importlib
import tempfile
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from grn.errors import InputError
from grn.scoring.baselines import _checked, _ranked_edges, _regulator_rows, genie3, grnboost2, pearson, spearman

ALL_CORES = -1


def genie3_peer(X, genes: Sequence[str], regulators: Sequence[str], seed: int = 0) -> pd.DataFrame:
    return _peer_table(genie3(X, genes, seed=seed, regulators=regulators, n_jobs=ALL_CORES))


def grnboost2_peer(X, genes: Sequence[str], regulators: Sequence[str], seed: int = 0) -> pd.DataFrame:
    return _peer_table(grnboost2(X, genes, seed=seed, regulators=regulators, n_jobs=ALL_CORES, early_stopping="oob"))


def pearson_peer(X, genes: Sequence[str], regulators: Sequence[str], seed: int = 0) -> pd.DataFrame:
    return _peer_table(pearson(X, genes, regulators=regulators))


def spearman_peer(X, genes: Sequence[str], regulators: Sequence[str], seed: int = 0) -> pd.DataFrame:
    return _peer_table(spearman(X, genes, regulators=regulators))


def arboreto_grnboost2(X, genes: Sequence[str], regulators: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """arboreto 0.1.6's GRNBoost2 ("GBM" with its SGBM_KWARGS: learning rate 0.01, max_features 0.1,
    subsample 0.9, at most 5000 rounds, out-of-bag early stopping over 25 rounds), one
    `infer_partial_network` call per target on the regulators' columns (it drops the target itself).
    The links it leaves out (importance 0) weigh 0."""
    core = _import_extra("arboreto.core", "arboreto")
    X, genes = _checked(X, genes)
    rows = _regulator_rows(genes, regulators)
    names = [str(g) for g in genes[rows]]
    links = Parallel(n_jobs=ALL_CORES)(
        delayed(core.infer_partial_network)("GBM", core.SGBM_KWARGS, X[:, rows], names, str(genes[t]), X[:, t], seed=seed)
        for t in range(len(genes)))
    weights = np.zeros((len(rows), len(genes)))
    row_of = {name: i for i, name in enumerate(names)}
    for target, table in enumerate(links):
        weights[[row_of[tf] for tf in table["TF"]], target] = table["importance"].to_numpy()
    return _peer_table(_ranked_edges(weights, genes, rows))


def regdiffusion(X, genes: Sequence[str], regulators: Sequence[str], seed: int = 0, device: str | None = None) -> pd.DataFrame:
    """RegDiffusion (PyPI regdiffusion 0.2.3) with its defaults: `RegDiffusionTrainer(X)` (1,000 steps,
    batch 128, T 5,000 diffusion steps, noise 1e-4 to 0.02, hidden dims [16, 16, 16], learning rates 1e-3 and
    1/(50 (n_genes - 1)) for the adjacency, sparse loss 0.25, adjacency dropout 0.3; it min-max scales each
    cell and standardises each gene itself) with `seed`, on `device` ("cuda" when available, else "cpu").
    weight regulator -> target = `get_adj()[regulator, target]` (rows are sources, as its GRN class reads
    them; float16, as it returns). Genes constant over the cells, which its trainer refuses, weigh 0."""
    import torch  # here, not at import: the other peers need none of it

    X, genes = _checked(X, genes)
    rows = _regulator_rows(genes, regulators)
    varying = np.flatnonzero(X.std(axis=0) > 0)
    with _regdiffusion_globals(torch) as rd, tempfile.TemporaryDirectory() as scratch:
        trainer = rd.RegDiffusionTrainer(X[:, varying].astype(np.float32), seed=seed,
                                         device=device or ("cuda" if torch.cuda.is_available() else "cpu"),
                                         logger=rd.LightLogger(result_dir=scratch))  # its logs, in a scratch folder
        trainer.train()
        adjacency = trainer.get_adj()
    among_varying = np.full(len(genes), -1)
    among_varying[varying] = np.arange(len(varying))
    trained = among_varying[rows] >= 0
    weights = np.zeros((len(rows), len(genes)), dtype=np.float32)
    weights[np.ix_(trained, varying)] = adjacency[among_varying[rows[trained]]]
    return _peer_table(_ranked_edges(weights, genes, rows))


REAL_PEERS = {
    "genie3": genie3_peer,
    "grnboost2": grnboost2_peer,
    "arboreto_grnboost2": arboreto_grnboost2,
    "pearson": pearson_peer,
    "spearman": spearman_peer,
    "regdiffusion": regdiffusion,
}


@contextmanager
def _regdiffusion_globals(torch):
    """regdiffusion sets torch's float32 matmul precision to 'high' when imported, and its seeding turns
    cuDNN deterministic: keep both for its run, and give the rest of the process its own settings back."""
    saved = torch.get_float32_matmul_precision(), torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    try:
        rd = _import_extra("regdiffusion", "regdiffusion")
        torch.set_float32_matmul_precision("high")
        yield rd
    finally:
        torch.set_float32_matmul_precision(saved[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[1:]


def _import_extra(module: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise InputError(f"{package} is not installed ({error}); install the peers with: pip install -e '.[bench]'") from None


def _peer_table(ranked_edges: pd.DataFrame) -> pd.DataFrame:
    return ranked_edges.set_axis(["source", "target", "weight"], axis=1).reset_index(drop=True)
