"""A trained model's network, refined with the data it was trained on (the BEELINE read-out).

Four steps, each chosen per data group on BEELINE replicates 0-2 (results/TUNING.md):
- symmetrise (optional): each edge's magnitude becomes |w[i, j]| + |w[j, i]|, so that the model says
  which genes interact and the pseudotime lead (orient) alone says which way (the model's own
  asymmetry between the two directions of a pair did not help on the curated group);
- balance (optional): each edge divided by sqrt(its target's total |weight| x its regulator's
  total), so that genes the model finds easy or hard to predict do not crowd out the ranking;
- orient (optional): edges scaled by whether the regulator changes first along pseudotime
  (grn/direction.py), optionally also by the pair's lagged-correlation strength to a power;
- sign_votes: an edge's sign is the majority of several signs (ties and zeros count as +):
  `effect` (the model's mean effect j -> i), `reverse_effect` (its effect i -> j),
  `correlation` (Pearson, over cells) and `lagged_correlation` (summed over trajectories).
"""
import numpy as np

from grn.readout.direction import POOLINGS, lagged_correlations, orient, pair_strength, pseudotime_lead
from grn.errors import InputError

SIGN_VOTES = ("effect", "reverse_effect", "correlation", "lagged_correlation")


def evidence_from(data, options) -> dict | None:
    """refine's evidence from a preprocessed AnnData's expression and its pseudotime_* columns; None when
    refine is off."""
    if not options:
        return None
    columns = [c for c in data.obs.columns if c.startswith("pseudotime_")]
    pseudotimes = data.obs[columns].to_numpy(dtype=float) if columns else None
    try:
        return data_evidence(np.asarray(data.X), pseudotimes, options)
    except InputError as err:
        raise InputError(f"{data.uns.get('name', 'dataset')}: {err}") from None


def data_evidence(expression, pseudotimes, options) -> dict:
    """What refine needs from the data, computed once per dataset (and before any training, so that bad
    settings fail first): the expression correlation and, when orienting or voting by it, the
    per-trajectory lagged correlations. expression: (cells, genes)."""
    expression = np.asarray(expression, dtype=np.float64)
    _check(options)
    evidence = {}
    if "correlation" in options.sign_votes:
        evidence["correlation"] = np.nan_to_num(np.corrcoef(expression, rowvar=False))
    if options.orient or "lagged_correlation" in options.sign_votes:
        if pseudotimes is None:
            raise InputError("orienting edges or voting signs by lagged correlation needs pseudotime; "
                             "set refine.orient to null and drop lagged_correlation for data without it")
        evidence["lagged"] = lagged_correlations(expression, pseudotimes, options.orient.bins, list(options.orient.lags))
    return evidence


def _check(options):
    unknown = set(options.sign_votes or []) - set(SIGN_VOTES)
    if unknown or not options.sign_votes:
        raise InputError(f"sign_votes must be a non-empty list from {SIGN_VOTES}, got {options.sign_votes}")
    if "lagged_correlation" in options.sign_votes and not options.orient:
        raise InputError("the lagged_correlation sign vote uses refine.orient's bins and lags; set refine.orient")
    if not isinstance(options.get("symmetrise", False), bool):
        raise InputError(f"refine.symmetrise must be true or false, got {options.get('symmetrise')!r}")
    if options.orient:
        if options.orient.pooling not in POOLINGS:
            raise InputError(f"refine.orient.pooling must be one of {sorted(POOLINGS)}, got {options.orient.pooling!r}")
        if not options.orient.strength_power >= 0 or not options.orient.sharpness >= 0:
            raise InputError("refine.orient.strength_power and sharpness must be >= 0, got "
                             f"{options.orient.strength_power} and {options.orient.sharpness}")


def balanced(weights) -> np.ndarray:
    """weights[i, j] / sqrt(sum_k |w[i, k]| * sum_k |w[k, j]|) (target row, regulator column)."""
    magnitude = np.abs(weights)
    return weights / np.sqrt(magnitude.sum(1, keepdims=True) * magnitude.sum(0, keepdims=True) + 1e-24)


def refine(weights, evidence: dict, options) -> np.ndarray:
    """The (target, regulator) signed weights after the steps `options` turns on."""
    weights = np.asarray(weights, dtype=np.float64)
    votes = {"effect": lambda: np.sign(weights), "reverse_effect": lambda: np.sign(weights.T),
             "correlation": lambda: np.sign(evidence["correlation"]),
             "lagged_correlation": lambda: np.sign(evidence["lagged"].sum(0))}
    sign = np.sign(sum(votes[name]() for name in options.sign_votes))
    magnitude = np.abs(weights)
    if options.get("symmetrise", False):
        magnitude = magnitude + magnitude.T
    if options.balance:
        magnitude = balanced(magnitude)
    if options.orient:
        lagged = evidence["lagged"]
        magnitude = orient(magnitude, pseudotime_lead(lagged, options.orient.pooling), options.orient.sharpness)
        magnitude = magnitude * pair_strength(lagged) ** options.orient.strength_power
    return magnitude * np.where(sign == 0, 1.0, sign)
