"""The edge table: a (target i, regulator j) weight matrix as ranked edges regulator -> target."""
import numpy as np
import pandas as pd


def edges_from_matrix(weights, genes, max_edges: int | None = None, regulators=None) -> pd.DataFrame:
    """A (target i, regulator j) weight matrix as BEELINE ranked edges regulator -> target, self-loops
    left out, sorted by |weight| descending; only the max_edges strongest when given (16,384 genes
    make 268 million edges, gigabytes of CSV nobody reads). `regulators` (column ids): only edges out of
    these genes (a TF list); by default every gene regulates."""
    weights = np.asarray(weights, dtype=np.float64)
    if max_edges is not None and max_edges < 1:
        raise ValueError(f"max_edges must be at least 1 (or None for every edge), got {max_edges}")
    candidate = ~np.eye(len(genes), dtype=bool)
    if regulators is not None:
        candidate &= np.isin(np.arange(len(genes)), list(regulators))[None, :]
    if max_edges is None or max_edges >= candidate.sum():
        targets, sources = np.nonzero(candidate)
    else:  # the head of the full ranking: the largest |weight|, ties in flat order, NaN last
        strength = np.nan_to_num(np.abs(weights), nan=-2.0)
        strength[~candidate] = -3.0  # self-loops and non-regulators rank below every candidate, NaN included
        strength = strength.ravel()
        cut = np.partition(strength, strength.size - max_edges)[strength.size - max_edges]
        above = np.flatnonzero(strength > cut)
        tied = np.flatnonzero(strength == cut)[:max_edges - above.size]
        targets, sources = np.unravel_index(np.sort(np.concatenate([above, tied])), weights.shape)
    genes = np.asarray(genes)
    edges = pd.DataFrame({"Gene1": genes[sources], "Gene2": genes[targets],
                          "EdgeWeight": weights[targets, sources]})
    order = np.argsort(-np.abs(edges["EdgeWeight"].to_numpy()), kind="stable")
    return edges.iloc[order].reset_index(drop=True)
