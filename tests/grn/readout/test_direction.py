"""grn.readout.direction: a regulator that switches on earlier along pseudotime leads its target."""
import numpy as np
import pytest

from grn.readout.direction import lagged_correlations, orient, pair_strength, pseudotime_lead
from grn.errors import InputError


def switch(t, at):
    return 1.0 / (1.0 + np.exp(-(t - at) * 25))


def cascade(n_cells=600, seed=0):
    """Gene 0 switches on at t=0.3 and drives gene 1 (on at 0.5); gene 2 is noise. Cells shuffled."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 1, n_cells)
    x = np.column_stack([switch(t, 0.3), switch(t, 0.5), rng.random(n_cells)]) + 0.05 * rng.standard_normal((n_cells, 3))
    return x, t[:, None]


def test_the_earlier_gene_leads_and_the_matrix_is_antisymmetric():
    x, t = cascade()
    lead = pseudotime_lead(lagged_correlations(x, t, bins=40, lags=(1, 2, 4, 6)))
    assert lead[1, 0] > 0.1 and lead[0, 1] == pytest.approx(-lead[1, 0])  # gene 0 leads gene 1
    np.testing.assert_allclose(lead, -lead.T)
    assert np.all(np.diag(lead) == 0)


def test_cells_off_a_trajectory_are_ignored_and_short_trajectories_skipped():
    x, t = cascade()
    other = np.full_like(t, np.nan)
    other[:30, 0] = np.arange(30.0)  # 30 cells: fewer than two per bin, skipped
    both = lagged_correlations(x, np.column_stack([t, other]), bins=40)
    np.testing.assert_allclose(both, lagged_correlations(x, t, bins=40))
    none = lagged_correlations(x[:50], t[:50], bins=40)
    assert none.shape == (0, 3, 3)  # no usable trajectory: nothing reoriented, strength neutral
    assert not pseudotime_lead(none).any() and (pair_strength(none) == 1).all()


@pytest.mark.parametrize("bins, lags", [(1, (1,)), (10, ()), (10, (0, 1)), (10, (10,))])
def test_bad_settings_are_named(bins, lags):
    x, t = cascade(100)
    with pytest.raises(InputError, match="pseudotime orientation needs"):
        lagged_correlations(x, t, bins=bins, lags=lags)


def test_orient_keeps_leading_edges_and_damps_the_reverse_without_touching_signs():
    weights = np.array([[0.0, -2.0], [3.0, 0.0]])
    lead = np.array([[0.0, -0.5], [0.5, 0.0]])  # regulator 0 leads target 1
    oriented = orient(weights, lead, sharpness=20.0)
    assert oriented[1, 0] == pytest.approx(3.0, rel=1e-4) and -1e-3 < oriented[0, 1] < 0
    np.testing.assert_allclose(orient(weights, np.zeros((2, 2))), weights / 2)


def test_lagged_correlations_keep_the_sign_at_the_strongest_lag():
    x, t = cascade()
    x[:, 1] = -x[:, 1]  # gene 0 now represses gene 1
    corr = lagged_correlations(x, t, bins=40, lags=(1, 2, 4, 6))[0]
    order = np.argsort(t[:, 0], kind="stable")
    binned = np.stack([c.mean(0) for c in np.array_split(x[order], 40)])
    z = (binned - binned.mean(0)) / binned.std(0)  # standardised over the whole trajectory
    by_lag = [z[lag:, 1] @ z[:-lag, 0] / (40 - lag) for lag in (1, 2, 4, 6)]
    assert corr[1, 0] == pytest.approx(min(by_lag, key=lambda c: -abs(c))) and corr[1, 0] < -0.5


@pytest.mark.parametrize("pooling, expected", [("mean", 0.5), ("max", 0.8), ("p4", (0.8 ** 4 / 2 + 0.2 ** 4 / 2) ** 0.25)])
def test_trajectories_pool_into_one_lead(pooling, expected):
    corr = np.zeros((2, 2, 2))
    corr[:, 1, 0] = [0.8, -0.2]  # |corr| 0.8 on one trajectory, 0.2 on the other; the reverse 0
    lead = pseudotime_lead(corr, pooling)
    assert lead[1, 0] == pytest.approx(expected) and lead[0, 1] == pytest.approx(-expected)
    np.testing.assert_allclose(pair_strength(corr), [[0.0, 0.5], [0.5, 0.0]])


def test_unknown_pooling_is_named():
    with pytest.raises(InputError, match="pooling"):
        pseudotime_lead(np.zeros((1, 2, 2)), "median")
