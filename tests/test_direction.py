"""grn.direction: a regulator that switches on earlier along pseudotime leads its target."""
import numpy as np
import pytest

from grn.direction import orient, pseudotime_lead
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
    lead = pseudotime_lead(x, t, bins=40, lags=(1, 2, 4, 6))
    assert lead[1, 0] > 0.1 and lead[0, 1] == pytest.approx(-lead[1, 0])  # gene 0 leads gene 1
    np.testing.assert_allclose(lead, -lead.T)
    assert np.all(np.diag(lead) == 0)


def test_cells_off_a_trajectory_are_ignored_and_short_trajectories_skipped():
    x, t = cascade()
    other = np.full_like(t, np.nan)
    other[:30, 0] = np.arange(30.0)  # 30 cells: fewer than two per bin, skipped
    both = pseudotime_lead(x, np.column_stack([t, other]), bins=40)
    np.testing.assert_allclose(both, pseudotime_lead(x, t, bins=40))
    assert not pseudotime_lead(x[:50], t[:50], bins=40).any()  # no usable trajectory: nothing reoriented


@pytest.mark.parametrize("bins, lags", [(1, (1,)), (10, ()), (10, (0, 1)), (10, (10,))])
def test_bad_settings_are_named(bins, lags):
    x, t = cascade(100)
    with pytest.raises(InputError, match="pseudotime orientation needs"):
        pseudotime_lead(x, t, bins=bins, lags=lags)


def test_orient_keeps_leading_edges_and_damps_the_reverse_without_touching_signs():
    weights = np.array([[0.0, -2.0], [3.0, 0.0]])
    lead = np.array([[0.0, -0.5], [0.5, 0.0]])  # regulator 0 leads target 1
    oriented = orient(weights, lead, sharpness=20.0)
    assert oriented[1, 0] == pytest.approx(3.0, rel=1e-4) and -1e-3 < oriented[0, 1] < 0
    np.testing.assert_allclose(orient(weights, np.zeros((2, 2))), weights / 2)
