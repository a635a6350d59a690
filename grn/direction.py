"""Edge direction from pseudotime: does regulator j change before target i?

A model trained on single cells sees which genes move together, not which moves first, so its
network holds both directions of a dependency with similar weight. Along a pseudotime trajectory
a regulator's changes precede its target's. Per trajectory, cells are sorted by pseudotime and
averaged in equal-count bins; lead[i, j] is the strongest |correlation| of x_i(t) with x_j(t - lag)
over the lags, minus the same with i and j swapped, averaged over trajectories (antisymmetric).
An edge j -> i then keeps its weight scaled by sigmoid(sharpness * lead[i, j]).
"""
import numpy as np

from grn.errors import InputError


def pseudotime_lead(expression, pseudotimes, bins: int = 40, lags=(1, 2, 4, 6)) -> np.ndarray:
    """(target i, regulator j) lead of j over i. expression: (cells, genes); pseudotimes: (cells,
    trajectories), NaN where a cell is not on a trajectory. Trajectories with fewer than two cells
    per bin are skipped; with none left the lead is zero (no edge is reoriented)."""
    expression = np.asarray(expression, dtype=np.float64)
    pseudotimes = np.asarray(pseudotimes, dtype=np.float64).reshape(len(expression), -1)
    if bins < 2 or not lags or min(lags) < 1 or max(lags) >= bins:
        raise InputError(f"pseudotime orientation needs bins >= 2 and lags in [1, bins), got bins={bins}, lags={list(lags)}")
    n_genes = expression.shape[1]
    strength, used = np.zeros((n_genes, n_genes)), 0
    for times in pseudotimes.T:
        on_trajectory = np.isfinite(times)
        if on_trajectory.sum() < 2 * bins:
            continue
        ordered = expression[on_trajectory][np.argsort(times[on_trajectory], kind="stable")]
        trajectory = np.stack([chunk.mean(0) for chunk in np.array_split(ordered, bins)])
        z = (trajectory - trajectory.mean(0)) / (trajectory.std(0) + 1e-9)
        strongest = np.zeros((n_genes, n_genes))
        for lag in lags:
            corr = z[lag:].T @ z[:-lag] / (bins - lag)  # corr[i, j]: x_i(t) with x_j(t - lag)
            strongest = np.maximum(strongest, np.abs(corr))
        strength += strongest
        used += 1
    if used:
        strength /= used
    return strength - strength.T


def orient(weights, lead, sharpness: float = 20.0) -> np.ndarray:
    """(target, regulator) weights scaled by sigmoid(sharpness * lead): an edge whose regulator moves
    first keeps its weight, the reverse edge loses it; signs are untouched."""
    return np.asarray(weights) / (1.0 + np.exp(-sharpness * np.asarray(lead)))
