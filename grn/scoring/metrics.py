"""Scoring an inferred network against a signed ground truth, with BEELINE's conventions.

Edges are directed (regulator Gene1 -> target Gene2) and self-loops are excluded. The candidate
universe is every ordered pair of distinct genes named in the ground truth (self-loop rows included,
as BEELINE does), or of `genes` when given. A candidate scores |EdgeWeight|; pairs the prediction does
not list score 0; predicted edges outside the universe are ignored; a pair predicted twice keeps its
larger |weight|; duplicate truth rows count once.

AUPRC is the trapezoidal area under scikit-learn's precision-recall curve
(`precision_recall_curve` + `auc`), exactly as BEELINE computed it, so that our numbers sit on the
same scale as the published ones. (This interpolation is mildly optimistic over tied scores, e.g. the
block of unpredicted pairs; `average_precision_score` would not be.) Ratios divide by the edge
density n_true_edges / n_candidates, the AUPRC of a random ranking.

EPR: precision among the top k = n_true_edges candidates (every candidate scoring at least the k-th
largest score, and above 0), over the density; 0 when nothing is predicted. sign_acc: among the true
edges in that set, the fraction whose weight's sign matches the truth's `+`/`-`; NaN for unsigned
predictions (no negative weight) or when no true edge made the set.
"""
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score

from grn.errors import InputError
from grn.data.ground_truth import validate_truth

PAIR = ["Gene1", "Gene2"]


def score_network(predicted: pd.DataFrame, truth: pd.DataFrame, genes: Sequence[str] | None = None) -> dict:
    """AUPRC (and its ratio to the edge density), early precision ratio, AUROC and sign accuracy."""
    universe = _universe(predicted, truth, genes)
    y_true = universe["true"].to_numpy()
    score = universe["score"].to_numpy()
    n_true, n_candidates = int(y_true.sum()), len(universe)
    density = n_true / n_candidates

    precision, recall, _ = precision_recall_curve(y_true, score)
    auprc = auc(recall, precision)
    auroc = roc_auc_score(y_true, score) if n_true < n_candidates else float("nan")

    top = _top_k(score, n_true)
    early_precision = y_true[top].mean() if top.any() else 0.0
    signed = (pd.to_numeric(predicted["EdgeWeight"]) < 0).any()
    return {
        "auprc": float(auprc),
        "auprc_ratio": float(auprc / density),
        "epr": float(early_precision / density),
        "auroc": float(auroc),
        "sign_acc": _sign_accuracy(universe[top & y_true]) if signed else float("nan"),
        "density": density,
        "n_true_edges": n_true,
        "n_candidates": n_candidates,
    }


def candidate_scores(
    predicted: pd.DataFrame, truth: pd.DataFrame, genes: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The aligned universe as arrays: is-true-edge (bool), score |weight| (0 if unpredicted), and the
    predicted sign (+1, -1, or 0 if unpredicted), one entry per candidate pair, regulator-major in
    gene order (sorted names, or the order of `genes`)."""
    universe = _universe(predicted, truth, genes)
    return universe["true"].to_numpy(), universe["score"].to_numpy(), universe["sign"].to_numpy()


def format_scores(scores: dict) -> str:
    """A two-column fixed-width table of `score_network`'s result."""
    lines = [f"{'metric':<14}{'value':>10}"]
    for name, value in scores.items():
        shown = f"{value:>10d}" if isinstance(value, (int, np.integer)) else f"{value:>10.4f}"
        lines.append(f"{name:<14}{shown}")
    return "\n".join(lines)


def _universe(predicted: pd.DataFrame, truth: pd.DataFrame, genes) -> pd.DataFrame:
    """One row per candidate pair (index Gene1, Gene2): score, sign, the truth's signs `is_plus` and
    `is_minus` (both set when the truth lists the edge with each sign) and `true`."""
    edges = _truth_edges(truth, genes)  # self-loops stay until the reindex: their genes still count
    genes = _gene_list(edges, genes)
    pairs = pd.MultiIndex.from_tuples([(a, b) for a in genes for b in genes if a != b], names=PAIR)
    signs = edges.assign(is_plus=edges["Type"] == "+", is_minus=edges["Type"] == "-")
    signs = signs.groupby(PAIR)[["is_plus", "is_minus"]].any().reindex(pairs, fill_value=False)
    best = _prediction_table(predicted).set_index(PAIR)[["score", "sign"]].reindex(pairs, fill_value=0.0)
    return pd.concat([best, signs], axis=1).assign(true=signs.any(axis=1))


def _truth_edges(truth: pd.DataFrame, genes) -> pd.DataFrame:
    if not isinstance(truth, pd.DataFrame):
        raise InputError(f"ground truth must be a pandas DataFrame, got {type(truth).__name__}")
    # filter(items=...) tolerates missing columns, which validate_truth then reports
    named = truth.filter(items=PAIR).astype(str).stack() if genes is None else pd.Series(genes, dtype=str)
    return validate_truth(truth, named.unique(), source="ground truth")


def _gene_list(edges: pd.DataFrame, genes) -> list[str]:
    if genes is None:
        return sorted(set(edges["Gene1"]) | set(edges["Gene2"]))
    genes = [str(g) for g in genes]
    repeated = sorted({g for g in genes if genes.count(g) > 1})
    if repeated:
        raise InputError(f"genes: duplicate gene name(s) {repeated}")
    return genes


def _prediction_table(predicted: pd.DataFrame) -> pd.DataFrame:
    """Predicted edges without self-loops, score = |weight|, one row per pair (the largest |weight|)."""
    if not isinstance(predicted, pd.DataFrame):
        raise InputError(f"predicted network must be a pandas DataFrame, got {type(predicted).__name__}")
    missing = {"Gene1", "Gene2", "EdgeWeight"} - set(predicted.columns)
    if missing:
        raise InputError(f"predicted network: missing column(s) {sorted(missing)}; expected Gene1,Gene2,EdgeWeight")
    weight = pd.to_numeric(predicted["EdgeWeight"], errors="coerce")
    if weight.isna().any():
        bad = predicted.loc[weight.isna(), PAIR].head(5).to_records(index=False).tolist()
        raise InputError(f"predicted network: EdgeWeight is NaN or not a number for edge(s) {bad}")
    table = pd.DataFrame({"Gene1": predicted["Gene1"].astype(str), "Gene2": predicted["Gene2"].astype(str),
                          "score": weight.abs(), "sign": np.sign(weight)})
    table = table[table["Gene1"] != table["Gene2"]]
    return table.sort_values("score", ascending=False, kind="stable").drop_duplicates(PAIR)


def _top_k(score: np.ndarray, k: int) -> np.ndarray:
    """BEELINE's early-precision set: every candidate scoring at least the k-th largest score (ties at
    the cut included), counting only scores > 0 as predicted."""
    cut = np.sort(score)[::-1][k - 1]
    return (score >= cut) & (score > 0)


def _sign_accuracy(hits: pd.DataFrame) -> float:
    """Fraction of true edges whose predicted sign agrees with (one of) the truth's signs."""
    if hits.empty:
        return float("nan")
    agrees = (hits["sign"] > 0) & hits["is_plus"] | (hits["sign"] < 0) & hits["is_minus"]
    return float(agrees.mean())
