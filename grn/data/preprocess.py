"""scanpy preprocessing: QC filters, normalise, log1p, optional highly-variable genes."""
import logging

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from grn.errors import InputError

log = logging.getLogger(__name__)

PSEUDOTIME = "__pseudotime__"  # the extra input column with_pseudotime adds


def preprocess(adata: ad.AnnData, normalize_total: float | None = None, log1p: bool = True,
               n_top_genes: int | None = None, min_genes: int | None = None,
               min_cells: int | None = None, keep_genes=()) -> ad.AnnData:
    """Return a preprocessed copy. QC first: cells expressing fewer than `min_genes` genes and genes
    expressed in fewer than `min_cells` cells are dropped. Ground-truth genes and the genes named in `keep_genes`
    (a TF list) are kept through the gene filter and the highly-variable selection."""
    if n_top_genes is not None and n_top_genes < 2:
        raise InputError(f"n_top_genes must be at least 2 (a network needs two genes), got {n_top_genes}")
    adata = adata.copy()
    truth = adata.uns.get("ground_truth")
    named = set(keep_genes) | (set(truth["Gene1"]) | set(truth["Gene2"]) if truth is not None else set())
    truth_genes = adata.var_names.isin(named)
    if min_genes:
        adata = adata[_scanpy().pp.filter_cells(adata, min_genes=int(min_genes), inplace=False)[0]].copy()
        if adata.n_obs == 0:
            raise InputError(f"no cell expresses at least min_genes={min_genes} genes")
    if min_cells:
        keep = _scanpy().pp.filter_genes(adata, min_cells=int(min_cells), inplace=False)[0] | truth_genes
        truth_genes = truth_genes[keep]
        adata = adata[:, keep].copy()
        if adata.n_vars == 0:
            raise InputError(f"no gene is expressed in at least min_cells={min_cells} cells")
    totals = np.asarray(adata.X.sum(axis=1)).ravel()
    if (totals <= 0).all():
        raise InputError("every cell has zero total expression")
    if (totals <= 0).any():
        log.warning("dropping %d cells with zero total expression", int((totals <= 0).sum()))
        adata = adata[totals > 0].copy()
    if normalize_total is not None:
        _scanpy().pp.normalize_total(adata, target_sum=float(normalize_total))
    if log1p:
        _scanpy().pp.log1p(adata)
    if n_top_genes is not None and n_top_genes < adata.n_vars:
        _scanpy().pp.highly_variable_genes(adata, n_top_genes=int(n_top_genes), flavor="seurat")
        adata = adata[:, adata.var["highly_variable"].to_numpy() | truth_genes].copy()
    adata.X = adata.X.astype(np.float32) if sp.issparse(adata.X) else np.asarray(adata.X, dtype=np.float32)
    return adata


def _scanpy():
    """scanpy, imported when a step uses it: importing it pulls in numba, and real data needs no step of it."""
    import scanpy

    return scanpy


def gene_standardisation(adata: ad.AnnData) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and standard deviation, computed without densifying a sparse matrix.
    Constant genes get a deviation of 1 so that they standardise to zero, not NaN."""
    X = adata.X
    mean = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
    mean_sq = np.asarray((X.multiply(X) if sp.issparse(X) else np.square(X)).mean(axis=0), dtype=np.float64).ravel()
    std = np.sqrt(np.maximum(mean_sq - mean**2, 0.0))
    std[std < 1e-8] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def with_pseudotime(adata):
    """The expression with one more input column: each cell's pseudotime, scaled to [0, 1] per trajectory
    (a cell's earliest trajectory time where it lies on several; 0 where it has none)."""
    columns = [c for c in adata.obs.columns if c.startswith("pseudotime_")]
    if not columns:
        raise InputError(f"{adata.uns.get('name', 'dataset')}: pseudotime requested but the data has none "
                         "(no PseudoTime.csv)")
    times = adata.obs[columns].to_numpy(dtype=float)
    scaled = times / np.nanmax(np.where(np.isnan(times), -np.inf, times), axis=0).clip(min=1e-12)
    time = np.nan_to_num(np.nanmin(np.where(np.isnan(scaled), np.inf, scaled), axis=1), posinf=0.0)
    data = ad.AnnData(np.column_stack([np.asarray(adata.X), time]).astype(np.float32), obs=adata.obs.copy(),
                      var=pd.DataFrame(index=[*adata.var_names, PSEUDOTIME]))
    data.uns.update(adata.uns)
    return data
