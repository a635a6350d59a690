"""Baselines recover a known linear regulation, and their numbers equal independent computations."""
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.covariance import ledoit_wolf_shrinkage

from grn.scoring.baselines import BASELINES, _regress_each_target, partial_correlation, pearson, spearman

GENES = ["x1", "x2", "x3", "y"]


@pytest.fixture(scope="module")
def linear_data():
    """y = 2 x1 - 3 x2 + noise; x3 unrelated."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = 2 * x[:, 0] - 3 * x[:, 1] + 0.5 * rng.normal(size=400)
    return np.column_stack([x, y])


def as_matrix(edges: pd.DataFrame, genes=GENES) -> np.ndarray:
    """Regulator x target weights; the diagonal stays NaN (no self-loops are listed)."""
    table = edges.pivot(index="Gene1", columns="Gene2", values="EdgeWeight")
    return table.reindex(index=genes, columns=genes).to_numpy()


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_ranked_edges_format(name, linear_data):
    edges = BASELINES[name](linear_data, GENES)
    assert list(edges.columns) == ["Gene1", "Gene2", "EdgeWeight"]
    assert len(edges) == 4 * 3 and not edges.duplicated(["Gene1", "Gene2"]).any()
    assert (edges["Gene1"] != edges["Gene2"]).all()
    assert (np.diff(edges["EdgeWeight"].abs().to_numpy()) <= 0).all()


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_true_regulators_of_y_rank_first(name, linear_data):
    into_y = as_matrix(BASELINES[name](linear_data, GENES))[:3, 3]  # x1, x2, x3 -> y
    strength = np.abs(into_y)
    assert strength[1] > strength[0] > strength[2]  # |-3| > |2| > unrelated
    if name not in ("genie3", "grnboost2"):  # the signed methods
        assert into_y[0] > 0 and into_y[1] < 0


def test_tree_methods_are_unsigned_and_seeded(linear_data):
    for name in ("genie3", "grnboost2"):
        edges = BASELINES[name](linear_data, GENES, seed=3)
        assert (edges["EdgeWeight"] >= 0).all()
        pd.testing.assert_frame_equal(edges, BASELINES[name](linear_data, GENES, seed=3))


def test_tree_importances_rounded_below_zero_weigh_zero(linear_data):
    """sklearn's impurity sums can round to -1e-17 (GRNBoost2 on hHep_TFs500 gave two such edges); a
    negative weight would make the network read as signed."""
    importances = np.array([0.7, -1e-17, 0.0])  # x1, x2, x3 -> y
    weights = _regress_each_target(linear_data, lambda predictors, target: importances[:predictors.shape[1]],
                                   np.arange(3), n_jobs=1)
    np.testing.assert_array_equal(weights[:, 3], [0.7, 0.0, 0.0])


def test_pearson_equals_numpy(linear_data):
    np.testing.assert_allclose(as_matrix(pearson(linear_data, GENES)), with_nan_diagonal(np.corrcoef(linear_data.T)),
                               rtol=1e-12)


def test_spearman_equals_scipy(linear_data):
    ties = np.round(linear_data, 0)  # rounding makes many ties, which must get average ranks
    np.testing.assert_allclose(as_matrix(spearman(ties, GENES)), with_nan_diagonal(spearmanr(ties).statistic),
                               rtol=1e-12)


def test_correlation_with_a_constant_gene_is_zero(linear_data):
    flat = linear_data.copy()
    flat[:, 2] = 1.0
    for method in (pearson, spearman):
        weights = as_matrix(method(flat, GENES))
        assert (weights[2, [0, 1, 3]] == 0).all() and (weights[[0, 1, 3], 2] == 0).all()


def test_unshrunk_partial_correlation_equals_correlation_of_regression_residuals(linear_data):
    """Partial correlation of i and j = correlation of what the other genes leave unexplained in each."""
    expected = np.full((4, 4), np.nan)
    design = lambda others: np.column_stack([np.ones(len(linear_data)), linear_data[:, others]])
    for i in range(4):
        for j in range(4):
            if i != j:
                others = [g for g in range(4) if g not in (i, j)]
                residual = lambda g: linear_data[:, g] - design(others) @ np.linalg.lstsq(
                    design(others), linear_data[:, g], rcond=None)[0]
                expected[i, j] = np.corrcoef(residual(i), residual(j))[0, 1]
    np.testing.assert_allclose(as_matrix(partial_correlation(linear_data, GENES, shrinkage=0.0)), expected,
                               rtol=1e-9)


def test_ledoit_wolf_partial_correlation_inverts_the_shrunk_correlation(linear_data):
    z = (linear_data - linear_data.mean(0)) / linear_data.std(0)
    s = ledoit_wolf_shrinkage(z)
    assert 0 < s < 1
    correlation = z.T @ z / len(z)
    shrunk = (1 - s) * correlation + s * np.trace(correlation) / 4 * np.eye(4)
    precision = np.linalg.inv(shrunk)
    expected = -precision / np.sqrt(np.outer(np.diag(precision), np.diag(precision)))
    np.testing.assert_allclose(as_matrix(partial_correlation(linear_data, GENES)), with_nan_diagonal(expected),
                               rtol=1e-9)


@pytest.mark.parametrize("name", sorted(BASELINES))
@pytest.mark.parametrize(
    "change, message",
    [
        (lambda X, genes: (np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), genes),
         r"1 NaN or infinite value\(s\), e.g. cell 1 of gene 'x2'"),
        (lambda X, genes: (X, genes[:3]), "4 gene columns but 3 gene names"),
        (lambda X, genes: (X, ["x1", "x2", "x1", "y"]), r"duplicate gene name\(s\) \['x1'\]"),
        (lambda X, genes: (X[:, 0], genes[:1]), "must be 2-D"),
    ],
)
def test_bad_input_is_named(name, change, message, linear_data):
    X, genes = change(linear_data, GENES)
    with pytest.raises(ValueError, match=message):
        BASELINES[name](X, genes)


def with_nan_diagonal(matrix: np.ndarray) -> np.ndarray:
    out = np.array(matrix, dtype=float)
    np.fill_diagonal(out, np.nan)
    return out
