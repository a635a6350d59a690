"""The real-data protocol's scores on a tiny case worked out by hand, and the data README's Pearson |r|
reference run reproduced on the shared data (mHSC-GM_TFs500) when it is beside the repository."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grn.errors import InputError
from grn.scoring.metrics import evaluated_regulators, score_network, score_real

REAL = Path(__file__).resolve().parents[4] / "shared" / "data" / "real"
GENES = ["A", "B", "C", "D"]
# C's only edge is a self-loop and A -> X leaves the data: the evaluated regulators are A and B, the
# candidates A -> {B, C, D} and B -> {A, C, D}, 3 of them true: density 1/2
TRUTH = pd.DataFrame([("A", "B"), ("A", "C"), ("B", "D"), ("C", "C"), ("A", "X"), ("A", "B")], columns=["Gene1", "Gene2"])


def network(*edges):
    return pd.DataFrame(edges, columns=["source", "target", "weight"])


# ranked by |weight|: A->B (true), B->A (false), A->C (true), B->D (true); A->D and B->C unlisted score 0;
# C -> A is no candidate (C is not an evaluated regulator)
RANKED = network(("A", "B", 0.9), ("B", "A", -0.8), ("A", "C", 0.7), ("B", "D", 0.1), ("C", "A", 5.0))


def test_evaluated_regulators_are_the_truths_own_within_the_genes_in_gene_order():
    assert evaluated_regulators(TRUTH, ["D", "B", "C", "A"]) == ["B", "A"]


def test_scores_worked_out_by_hand():
    scores = score_real(RANKED, TRUTH, GENES)
    assert (scores["n_regulators"], scores["n_candidates"], scores["n_true_edges"]) == (2, 6, 3)
    assert scores["density"] == pytest.approx(1 / 2)
    # (recall, precision) points: (0, 1), (1/3, 1), (1/3, 1/2), (2/3, 2/3), (1, 3/4); the threshold 0 adds
    # nothing once recall is 1. Trapezoids: 1/3 + 0 + (1/2 + 2/3) / 6 + (2/3 + 3/4) / 6 = 55/72
    assert scores["auprc"] == pytest.approx(55 / 72)
    assert scores["auprc_ratio"] == pytest.approx(55 / 36)
    # average precision: sum of precision times recall gained, 1/3 * (1 + 2/3 + 3/4) = 29/36
    assert scores["ap_ratio"] == pytest.approx(29 / 18)
    # top k = 3: A->B, B->A, A->C, two true
    assert scores["epr"] == pytest.approx((2 / 3) / (1 / 2))
    # true scores {0.9, 0.7, 0.1} against false {0.8, 0, 0}: 3 + 2 + 2 of 9 pairs ordered right
    assert scores["auroc"] == pytest.approx(7 / 9)


def test_the_sign_of_a_weight_does_not_change_its_rank():
    flipped = RANKED.assign(weight=-RANKED["weight"])
    assert score_real(flipped, TRUTH, GENES) == score_real(RANKED, TRUTH, GENES)


def test_the_rankededges_columns_and_a_signed_truth_are_accepted():
    ranked_edges = RANKED.set_axis(["Gene1", "Gene2", "EdgeWeight"], axis=1)
    assert score_real(ranked_edges, TRUTH.assign(Type="+"), GENES) == score_real(RANKED, TRUTH, GENES)


def test_given_regulators_widen_the_candidates():
    scores = score_real(RANKED, TRUTH, GENES, regulators=["A", "B", "D"])  # D -> {A, B, C} join, all false
    assert (scores["n_candidates"], scores["n_true_edges"], scores["n_regulators"]) == (9, 3, 3)
    assert scores["epr"] == pytest.approx((2 / 3) / (3 / 9))


def test_with_every_gene_a_regulator_the_protocol_is_beelines():
    signed = TRUTH.assign(Type="+").iloc[:3]
    ranked_edges = RANKED.set_axis(["Gene1", "Gene2", "EdgeWeight"], axis=1)
    real = score_real(RANKED, signed, GENES, regulators=GENES)
    beeline = score_network(ranked_edges, signed, genes=GENES)
    for metric in ("auprc", "auprc_ratio", "epr", "auroc", "density", "n_true_edges", "n_candidates"):
        assert real[metric] == pytest.approx(beeline[metric]), metric


@pytest.mark.parametrize("truth, regulators, message", [
    (TRUTH, ["A"], r"edges from regulators outside `regulators`: \['B'\]"),
    (pd.DataFrame([("X", "Y")], columns=["Gene1", "Gene2"]), None, "no edge joins two distinct genes"),
    (pd.DataFrame([("A", "B")], columns=["From", "To"]), None, "missing column"),
    (TRUTH, ["A", "B", "A"], r"duplicate gene name\(s\) \['A'\]"),
])
def test_bad_input_is_named(truth, regulators, message):
    with pytest.raises(InputError, match=message):
        score_real(RANKED, truth, GENES, regulators=regulators)
