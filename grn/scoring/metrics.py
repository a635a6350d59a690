"""Scoring an inferred network against a signed ground truth, with BEELINE's conventions.

Edges are directed (regulator Gene1 -> target Gene2) and self-loops are excluded. The candidate
universe is every ordered pair of distinct genes named in the ground truth (self-loop rows included,
as BEELINE does), or of `genes` when given; with `regulators` (a TF list) each of them to every such gene,
the truth kept to the edges that start at them. A candidate scores |EdgeWeight|; pairs the prediction does
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

Real cells (`score_real`, the protocol of `shared/data/real/README.md`): the candidates are every
(regulator, gene) pair of the data's genes but self-loops, the regulators being the truth's own
(`evaluated_regulators`); the truth is unsigned and kept to the data's genes; the same AUPRC, EPR and
AUROC, and the average precision ratio that published real-data numbers use.
"""
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

from grn.errors import InputError
from grn.data.ground_truth import validate_truth
from grn.data.real import restricted_truth

PAIR = ["Gene1", "Gene2"]


def score_network(predicted: pd.DataFrame, truth: pd.DataFrame, genes: Sequence[str] | None = None,
                  regulators: Sequence[str] | None = None) -> dict:
    """AUPRC (and its ratio to the edge density), early precision ratio, AUROC and sign accuracy.
    With `regulators` (a TF list) the candidates are those regulators x every gene, and the truth's edges
    from other genes are left out: a network read out of a TF list cannot have them."""
    edges, universe = _scored_universe(predicted, truth, genes, regulators)
    signs = edges.assign(is_plus=edges["Type"] == "+", is_minus=edges["Type"] == "-")
    signs = signs.groupby(PAIR)[["is_plus", "is_minus"]].any()
    signed = (pd.to_numeric(predicted["EdgeWeight"]) < 0).any()
    return _ranking_scores(universe, lambda hits: _sign_accuracy(hits.join(signs)) if signed else float("nan"))


def evaluated_regulators(truth: pd.DataFrame, genes: Sequence[str]) -> list[str]:
    """The real-data protocol's regulators: the truth's regulators (Gene1) with at least one edge to
    another gene of `genes`, in the order of `genes`."""
    regulators = set(restricted_truth(truth, genes, "ground truth")["Gene1"])
    return [gene for gene in _gene_list(None, genes) if gene in regulators]


def score_real(network: pd.DataFrame, truth: pd.DataFrame, genes: Sequence[str],
               regulators: Sequence[str] | None = None) -> dict:
    """The real-data protocol (`shared/data/real/README.md`): the truth is kept to its edges between two
    distinct genes of `genes`; the candidates are every (regulator, gene) pair but self-loops, the
    regulators being `evaluated_regulators(truth, genes)` unless given (they must then include every
    regulator of the kept truth). Ranked by |weight| with BEELINE's AUPRC, EPR and AUROC as in
    `score_network`, plus `ap_ratio`: scikit-learn's average precision over the density, the AUPRC
    ratio the data README's reference runs report (it differs from the trapezoid by about 1%).
    `network`: `source, target, weight` (the real peers' tables) or `Gene1, Gene2, EdgeWeight`; the
    truth's `Gene1, Gene2` may carry no sign. Adds `n_regulators` to the scores."""
    genes = _gene_list(None, genes)
    edges = restricted_truth(truth, genes, "ground truth")
    regulators = evaluated_regulators(edges, genes) if regulators is None else _gene_list(None, regulators)
    unlisted = sorted(set(edges["Gene1"]) - set(regulators))
    if unlisted:
        raise InputError(f"ground truth has edges from regulators outside `regulators`: {unlisted[:10]}")
    predicted = network.rename(columns={"source": "Gene1", "target": "Gene2", "weight": "EdgeWeight"})
    universe = _universe(predicted, edges, genes, regulators)
    scores = _ranking_scores(universe)
    average_precision = average_precision_score(universe["true"], universe["score"])
    return {**scores, "ap_ratio": float(average_precision / scores["density"]), "n_regulators": len(regulators)}


def candidate_scores(
    predicted: pd.DataFrame, truth: pd.DataFrame, genes: Sequence[str] | None = None,
    regulators: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The aligned universe as arrays: is-true-edge (bool), score |weight| (0 if unpredicted), and the
    predicted sign (+1, -1, or 0 if unpredicted), one entry per candidate pair, regulator-major in
    gene order (sorted names, or the order of `genes`); `regulators` as in `score_network`."""
    _, universe = _scored_universe(predicted, truth, genes, regulators)
    return universe["true"].to_numpy(), universe["score"].to_numpy(), universe["sign"].to_numpy()


def _scored_universe(predicted, truth, genes, regulators) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The truth's edges among the candidates, and the candidates (`_universe`): every ordered pair of genes,
    or with `regulators` each of them (in gene order) to every gene, the truth kept to edges from them."""
    edges = _truth_edges(truth, genes)
    gene_list = _gene_list(edges, genes)
    if regulators is not None:
        listed = set(map(str, regulators))
        regulators = [gene for gene in gene_list if gene in listed]
        if not starts_at(edges, regulators):
            raise InputError("no ground-truth edge starts at a regulator of the TF list: nothing to score")
        edges = edges[edges["Gene1"].isin(regulators)]
    return edges, _universe(predicted, edges, gene_list, regulators)


def starts_at(truth: pd.DataFrame, regulators) -> bool:
    """Whether some edge of the truth other than a self-loop starts at one of `regulators`."""
    gene1, gene2 = truth["Gene1"].astype(str), truth["Gene2"].astype(str)
    return bool((gene1.isin(set(map(str, regulators))) & (gene1 != gene2)).any())


def format_scores(scores: dict) -> str:
    """A two-column fixed-width table of `score_network`'s result."""
    lines = [f"{'metric':<14}{'value':>10}"]
    for name, value in scores.items():
        shown = f"{value:>10d}" if isinstance(value, (int, np.integer)) else f"{value:>10.4f}"
        lines.append(f"{name:<14}{shown}")
    return "\n".join(lines)


def _universe(predicted: pd.DataFrame, edges: pd.DataFrame, genes: list[str], regulators=None) -> pd.DataFrame:
    """One row per candidate pair (index Gene1, Gene2: each of `regulators`, default every gene, to each
    other gene, regulator-major): the prediction's score and sign, and whether `edges` lists it."""
    pairs = pd.MultiIndex.from_product([genes if regulators is None else regulators, genes], names=PAIR)
    pairs = pairs[pairs.get_level_values(0) != pairs.get_level_values(1)]
    best = _prediction_table(predicted).set_index(PAIR)[["score", "sign"]].reindex(pairs, fill_value=0.0)
    return best.assign(true=pairs.isin(pd.MultiIndex.from_frame(edges[PAIR])))


def _ranking_scores(universe: pd.DataFrame, sign_accuracy=None) -> dict:
    """AUPRC, its ratio to the density, EPR and AUROC of the candidates ranked by score; with
    `sign_accuracy`, also its value on the true edges of the top k (a frame of those candidates)."""
    y_true = universe["true"].to_numpy()
    score = universe["score"].to_numpy()
    n_true, n_candidates = int(y_true.sum()), len(universe)
    density = n_true / n_candidates

    precision, recall, _ = precision_recall_curve(y_true, score)
    auprc = auc(recall, precision)
    auroc = roc_auc_score(y_true, score) if n_true < n_candidates else float("nan")

    top = _top_k(score, n_true)
    early_precision = y_true[top].mean() if top.any() else 0.0
    scores = {"auprc": float(auprc), "auprc_ratio": float(auprc / density),
              "epr": float(early_precision / density), "auroc": float(auroc)}
    if sign_accuracy is not None:
        scores["sign_acc"] = sign_accuracy(universe[top & y_true])
    return {**scores, "density": density, "n_true_edges": n_true, "n_candidates": n_candidates}


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
    repeated = sorted(set(pd.Index(genes)[pd.Index(genes).duplicated()]))
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
