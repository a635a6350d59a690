"""Edge direction from pseudotime: does regulator j change before target i?

A model trained on single cells sees which genes move together, not which moves first, so its
network holds both directions of a dependency with similar weight. Along a pseudotime trajectory
a regulator's changes precede its target's. Per trajectory, cells are sorted by pseudotime and
averaged in equal-count bins; corr[t, i, j] is the correlation of x_i(s) with x_j(s - lag) at the
lag where it is strongest. lead[i, j] pools |corr| over trajectories (mean, max, or the 4-power mean
between them) and subtracts the same with i and j swapped (antisymmetric). An edge j -> i then keeps
its weight scaled by sigmoid(sharpness * lead[i, j]).
"""
import numpy as np

from grn.errors import InputError

POOLINGS = {"mean": lambda a: a.mean(0), "max": lambda a: a.max(0), "p4": lambda a: (a ** 4).mean(0) ** 0.25}


def lagged_correlations(expression, pseudotimes, bins: int = 40, lags=(1, 2, 4, 6)) -> np.ndarray:
    """(trajectories, target i, regulator j): the signed correlation of x_i(s) with x_j(s - lag) at
    the lag of largest magnitude. expression: (cells, genes); pseudotimes: (cells, trajectories), NaN
    where a cell is not on a trajectory. Trajectories with fewer than two cells per bin are skipped."""
    expression = np.asarray(expression, dtype=np.float64)
    pseudotimes = np.asarray(pseudotimes, dtype=np.float64).reshape(len(expression), -1)
    if bins < 2 or not lags or min(lags) < 1 or max(lags) >= bins:
        raise InputError(f"pseudotime orientation needs bins >= 2 and lags in [1, bins), got bins={bins}, lags={list(lags)}")
    n_genes = expression.shape[1]
    per_trajectory = []
    for times in pseudotimes.T:
        on_trajectory = np.isfinite(times)
        if on_trajectory.sum() < 2 * bins:
            continue
        ordered = expression[on_trajectory][np.argsort(times[on_trajectory], kind="stable")]
        trajectory = np.stack([chunk.mean(0) for chunk in np.array_split(ordered, bins)])
        z = (trajectory - trajectory.mean(0)) / (trajectory.std(0) + 1e-9)
        strongest = np.zeros((n_genes, n_genes))
        for lag in lags:
            corr = z[lag:].T @ z[:-lag] / (bins - lag)  # corr[i, j]: x_i(s) with x_j(s - lag)
            strongest = np.where(np.abs(corr) > np.abs(strongest), corr, strongest)
        per_trajectory.append(strongest)
    return np.array(per_trajectory).reshape(-1, n_genes, n_genes)


def pseudotime_lead(correlations, pooling: str = "mean") -> np.ndarray:
    """(target i, regulator j) lead of j over i from lagged_correlations; zero without trajectories
    (no edge is reoriented)."""
    if pooling not in POOLINGS:
        raise InputError(f"lead pooling must be one of {sorted(POOLINGS)}, got {pooling!r}")
    if len(correlations) == 0:
        return np.zeros(correlations.shape[1:])
    strength = POOLINGS[pooling](np.abs(correlations))
    return strength - strength.T


def pair_strength(correlations) -> np.ndarray:
    """How strongly a pair's trajectories track each other at a lag, either way round: the larger of
    the mean |correlation| of (i, j) and of (j, i)."""
    if len(correlations) == 0:
        return np.ones(correlations.shape[1:])
    strength = np.abs(correlations).mean(0)
    return np.maximum(strength, strength.T)


def orient(weights, lead, sharpness: float = 20.0) -> np.ndarray:
    """(target, regulator) weights scaled by sigmoid(sharpness * lead): an edge whose regulator moves
    first keeps its weight, the reverse edge loses it; signs are untouched."""
    return np.asarray(weights) / (1.0 + np.exp(-sharpness * np.asarray(lead)))
