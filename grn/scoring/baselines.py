"""Classical network-inference baselines on a cells x genes expression matrix.

Each takes `X` (cells x genes) and the gene names and returns a BEELINE rankedEdges table:
`Gene1` (regulator), `Gene2` (target), `EdgeWeight`, every ordered pair of distinct genes once,
sorted by |EdgeWeight| descending. The tree methods give unsigned importances; the correlation
methods give signed weights, symmetric, so both directions of a pair carry the same weight.
"""
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.covariance import LedoitWolf, ShrunkCovariance
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

from grn.errors import InputError

# arboreto's GRNBoost2 settings (learning rate, feature and cell subsampling, early-stopping window of
# 25 rounds), except: at most 1000 rounds instead of 5000, and early stopping watches a 10% held-out
# split (scikit-learn's) rather than the out-of-bag gain. On 2000 cells x 20 genes most targets stop
# after a few hundred rounds, and the cap bounds the worst case to seconds per target.
GRNBOOST2_SETTINGS = dict(learning_rate=0.01, max_features=0.1, subsample=0.9, n_estimators=1000,
                          n_iter_no_change=25, validation_fraction=0.1)


def genie3(X, genes: Sequence[str], n_trees: int = 100, seed: int = 0) -> pd.DataFrame:
    """GENIE3 (Huynh-Thu et al. 2010): a random forest (max_features sqrt) regresses each target, scaled
    to unit variance, on all other genes; the weight of regulator -> target is the regulator's
    impurity decrease averaged over the trees, left unnormalised so that targets compare. GENIE3's
    default is 1000 trees; 100 keeps an 11-20 gene dataset at a few seconds."""
    X, genes = _checked(X, genes)

    def importances(regulators, target):
        forest = RandomForestRegressor(n_estimators=n_trees, max_features="sqrt", random_state=seed)
        forest.fit(regulators, target / (target.std() or 1.0))
        return np.mean([tree.tree_.compute_feature_importances(normalize=False) for tree in forest.estimators_], axis=0)

    return _ranked_edges(_regress_each_target(X, importances), genes)


def grnboost2(X, genes: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """GRNBoost2 (Moerman et al. 2019): stochastic gradient boosting of each target on all other genes
    with early stopping (see GRNBOOST2_SETTINGS); weight = feature importance times the number of
    boosting rounds, arboreto's de-normalisation, so that better-predicted targets weigh more."""
    X, genes = _checked(X, genes)

    def importances(regulators, target):
        boosting = GradientBoostingRegressor(**GRNBOOST2_SETTINGS, random_state=seed).fit(regulators, target)
        return boosting.feature_importances_ * boosting.n_estimators_

    return _ranked_edges(_regress_each_target(X, importances), genes)


def pearson(X, genes: Sequence[str]) -> pd.DataFrame:
    """Pearson correlation of each pair of genes; 0 where a gene is constant."""
    X, genes = _checked(X, genes)
    return _ranked_edges(_correlation(X), genes)


def spearman(X, genes: Sequence[str]) -> pd.DataFrame:
    """Spearman correlation: Pearson correlation of the ranks (ties get their average rank)."""
    X, genes = _checked(X, genes)
    return _ranked_edges(_correlation(rankdata(X, axis=0)), genes)


def partial_correlation(X, genes: Sequence[str], shrinkage: float | None = None) -> pd.DataFrame:
    """Correlation of each pair given all other genes, -P_ij / sqrt(P_ii P_jj) from the precision matrix
    P of the standardised genes. The covariance is shrunk towards the identity by `shrinkage`, or by
    the Ledoit-Wolf estimate when None, so that P exists even with more genes than cells."""
    X, genes = _checked(X, genes)
    std = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    model = LedoitWolf() if shrinkage is None else ShrunkCovariance(shrinkage=shrinkage)
    precision = model.fit(Z).precision_
    scale = np.sqrt(np.diag(precision))
    return _ranked_edges(-precision / np.outer(scale, scale), genes)


BASELINES = {
    "genie3": genie3,
    "grnboost2": grnboost2,
    "pearson": pearson,
    "spearman": spearman,
    "partial_corr": partial_correlation,
}


def _checked(X, genes) -> tuple[np.ndarray, np.ndarray]:
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(f"expression matrix must be numeric: {error}") from None
    if X.ndim != 2:
        raise InputError(f"expression matrix must be 2-D (cells x genes), got shape {X.shape}")
    genes = np.asarray([str(g) for g in genes])
    if X.shape[1] != len(genes):
        raise InputError(f"expression matrix has {X.shape[1]} gene columns but {len(genes)} gene names were given")
    names, counts = np.unique(genes, return_counts=True)
    if (counts > 1).any():
        raise InputError(f"duplicate gene name(s) {names[counts > 1].tolist()}")
    if len(genes) < 2 or X.shape[0] < 2:
        raise InputError(f"need at least 2 cells and 2 genes, got {X.shape[0]} x {X.shape[1]}")
    bad = ~np.isfinite(X)
    if bad.any():
        cells, columns = np.nonzero(bad)
        raise InputError(f"expression matrix has {bad.sum()} NaN or infinite value(s), "
                         f"e.g. cell {cells[0]} of gene {str(genes[columns[0]])!r}")
    return X, genes


def _regress_each_target(X: np.ndarray, importances) -> np.ndarray:
    """weights[r, t] = importances(X without column t, X[:, t])[position of regulator r]."""
    n_genes = X.shape[1]
    weights = np.zeros((n_genes, n_genes))
    for target in range(n_genes):
        regulators = np.delete(np.arange(n_genes), target)
        weights[regulators, target] = importances(X[:, regulators], X[:, target])
    return weights


def _correlation(X: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(np.corrcoef(X, rowvar=False), nan=0.0)


def _ranked_edges(weights: np.ndarray, genes: np.ndarray) -> pd.DataFrame:
    """The off-diagonal of a regulator x target weight matrix as a rankedEdges table."""
    regulator, target = np.nonzero(~np.eye(len(genes), dtype=bool))
    weight = weights[regulator, target]
    order = np.argsort(-np.abs(weight), kind="stable")
    return pd.DataFrame({"Gene1": genes[regulator[order]], "Gene2": genes[target[order]], "EdgeWeight": weight[order]})
