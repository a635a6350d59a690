"""grn.readout.refine: balancing, orientation and sign votes on hand-computed cases."""
import numpy as np
import pytest
from omegaconf import OmegaConf

from grn.errors import InputError
from grn.readout.refine import balanced, data_evidence, refine


def options(**changes):
    base = dict(balance=False, orient=None, sign_votes=["effect"])
    return OmegaConf.create({**base, **changes})


def test_balanced_divides_by_the_root_of_row_and_column_totals():
    w = np.array([[0.0, -2.0, 1.0], [4.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    rows, cols = np.abs(w).sum(1), np.abs(w).sum(0)
    expected = np.array([[w[i, j] / np.sqrt(rows[i] * cols[j]) if w[i, j] else 0.0 for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(balanced(w), expected)


def test_sign_votes_take_the_majority_and_ties_count_as_plus():
    w = np.array([[0.0, -1.0], [3.0, 0.0]])
    corr = np.array([[1.0, -0.5], [-0.5, 1.0]])
    evidence = {"correlation": corr}
    # j=1 -> i=0: effect -, reverse effect +, correlation -: minus. j=0 -> i=1: +, -, -: minus.
    voted = refine(w, evidence, options(sign_votes=["effect", "reverse_effect", "correlation"]))
    np.testing.assert_allclose(voted, [[0.0, -1.0], [-3.0, 0.0]])
    tie = refine(w, evidence, options(sign_votes=["effect", "correlation"]))  # 1 -> 0: (-) + (-); 0 -> 1: (+) + (-)
    np.testing.assert_allclose(tie, [[0.0, -1.0], [3.0, 0.0]])
    np.testing.assert_allclose(refine(w, evidence, options()), w)  # the effect alone: as read out


ORIENT = dict(bins=40, lags=[1, 2, 4, 6], sharpness=20, pooling="mean", strength_power=1.0)


def cascade(sign=1.0):
    """Gene 0 switches on at t=0.3; gene 1 switches on (sign +1) or off (-1) at t=0.5."""
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 1, 800)
    x = np.column_stack([1 / (1 + np.exp(-(t - 0.3) * 25)), sign / (1 + np.exp(-(t - 0.5) * 25))])
    return x + 0.05 * rng.standard_normal(x.shape), t[:, None]


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_orientation_and_lagged_sign_follow_the_cascade(sign):
    x, t = cascade(sign)
    opts = options(orient=ORIENT, sign_votes=["lagged_correlation"])
    out = refine(np.array([[0.0, 1.0], [1.0, 0.0]]), data_evidence(x, t, opts), opts)
    assert abs(out[1, 0]) > 0.5 and abs(out[0, 1]) < 0.1 * abs(out[1, 0])  # gene 0 switches first: 0 -> 1 kept
    assert np.sign(out[1, 0]) == sign  # an activation or a repression, from the trajectories


def test_the_pair_strength_weights_each_edge():
    x, t = cascade()
    w = np.array([[0.0, 1.0], [1.0, 0.0]])
    evidence = data_evidence(x, t, options(orient=ORIENT))
    unoriented = refine(w, evidence, options(orient={**ORIENT, "sharpness": 0.0}))  # sigmoid(0) = 1/2 each
    pair = max(abs(evidence["lagged"][0, 0, 1]), abs(evidence["lagged"][0, 1, 0]))  # one trajectory
    np.testing.assert_allclose(unoriented, 0.5 * pair * (1 - np.eye(2)), rtol=1e-6)


@pytest.mark.parametrize("changes, message", [
    (dict(orient=ORIENT), "needs pseudotime"),
    (dict(sign_votes=["effect", "guess"]), "sign_votes"),
    (dict(sign_votes=["lagged_correlation"]), "uses refine.orient"),
    (dict(orient={**ORIENT, "pooling": "median"}), "pooling"),
    (dict(orient={**ORIENT, "strength_power": -1}), "strength_power"),
])
def test_bad_settings_and_missing_pseudotime_are_named(changes, message):
    x = np.random.default_rng(1).random((50, 3))
    with pytest.raises(InputError, match=message):
        data_evidence(x, None, options(**changes))


def test_symmetrise_sums_both_directions_before_balancing_and_orienting():
    """Against a loop-by-loop reference: s = |w| + |w|^T, b = s / sqrt(row total x column total of s),
    times sigmoid(sharpness x lead) with lead = |c[i, j]| - |c[j, i]| (one trajectory, mean pooling)."""
    w = np.array([[0.0, -2.0, 0.5], [1.0, 0.0, 3.0], [-0.25, 1.5, 0.0]])
    c = np.array([[0.0, 0.3, -0.1], [0.6, 0.0, 0.2], [0.4, -0.5, 0.0]])
    orient_opts = {**ORIENT, "strength_power": 0.0}
    opts = options(symmetrise=True, balance=True, orient=orient_opts)
    out = refine(w, {"lagged": c[None]}, opts)
    n = len(w)
    s = [[abs(w[i][j]) + abs(w[j][i]) for j in range(n)] for i in range(n)]
    rows = [sum(s[i][k] for k in range(n)) for i in range(n)]
    cols = [sum(s[k][j] for k in range(n)) for j in range(n)]
    expected = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            lead = abs(c[i][j]) - abs(c[j][i])
            sign = 1.0 if w[i][j] >= 0 else -1.0  # the effect vote alone
            expected[i, j] = sign * s[i][j] / (rows[i] * cols[j]) ** 0.5 / (1.0 + np.exp(-20.0 * lead))
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # without orientation the two directions of a pair keep the same magnitude
    flat = np.abs(refine(w, {}, options(symmetrise=True)))
    np.testing.assert_allclose(flat, flat.T)
    np.testing.assert_allclose(refine(w, {}, options(symmetrise=False)), w)  # off: as read out


def test_symmetrise_must_be_a_boolean():
    x = np.random.default_rng(1).random((50, 3))
    with pytest.raises(InputError, match="symmetrise"):
        data_evidence(x, None, options(symmetrise=0.5))
