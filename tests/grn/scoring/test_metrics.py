"""BEELINE-convention scores on tiny networks whose values are worked out by hand.

Precision-recall areas are trapezoids over (recall, precision) points, one point per distinct score
threshold, plus the point (recall 0, precision 1) that scikit-learn's curve starts from.
"""
import math

import pandas as pd
import pytest

from grn.errors import InputError
from grn.scoring.metrics import candidate_scores, format_scores, score_network


def truth(*edges):
    return pd.DataFrame(edges, columns=["Gene1", "Gene2", "Type"])


def predicted(*edges):
    return pd.DataFrame(edges, columns=["Gene1", "Gene2", "EdgeWeight"])


# genes A, B, C: 6 ordered candidate pairs, 2 true -> density 1/3
CHAIN = truth(("A", "B", "+"), ("B", "C", "-"))


def test_perfect_ranking():
    ranked = predicted(("A", "B", 0.9), ("B", "C", 0.8), ("A", "C", 0.3), ("B", "A", 0.2), ("C", "A", 0.1),
                       ("C", "B", 0.05))
    scores = score_network(ranked, CHAIN)
    assert scores["n_true_edges"] == 2 and scores["n_candidates"] == 6
    assert scores["density"] == pytest.approx(1 / 3)
    assert scores["auprc"] == pytest.approx(1.0)
    assert scores["auprc_ratio"] == pytest.approx(3.0)  # 1 / density
    assert scores["epr"] == pytest.approx(3.0)
    assert scores["auroc"] == pytest.approx(1.0)


def test_reversed_ranking():
    ranked = predicted(("A", "C", 0.6), ("B", "A", 0.5), ("C", "A", 0.4), ("C", "B", 0.3), ("A", "B", 0.2),
                       ("B", "C", 0.1))
    scores = score_network(ranked, CHAIN)
    # points (recall, precision): (0, 1), (0, 0) for the top four, (1/2, 1/5), (1, 2/6)
    area = 0.5 * (0 + 1 / 5) / 2 + 0.5 * (1 / 5 + 1 / 3) / 2
    assert scores["auprc"] == pytest.approx(area)
    assert scores["auprc_ratio"] == pytest.approx(area * 3)
    assert scores["epr"] == 0.0  # the top two are both false
    assert scores["auroc"] == pytest.approx(0.0)  # every true edge ranks below every false one


def test_ties_at_the_cut_are_all_in_the_top_k():
    ranked = predicted(("A", "B", 0.9), ("A", "C", 0.5), ("B", "C", 0.5), ("C", "A", 0.5))
    scores = score_network(ranked, CHAIN)
    # k = 2; the 2nd largest score 0.5 is shared by three pairs, so the top set has 4 pairs, 2 true
    assert scores["epr"] == pytest.approx((2 / 4) / (1 / 3))


def test_unpredicted_pairs_score_zero_and_do_not_count_as_predicted():
    cycle = truth(("A", "B", "+"), ("B", "C", "+"), ("C", "A", "+"))  # density 3/6
    only_one = predicted(("A", "B", 0.9))
    y_true, score, signs = candidate_scores(only_one, cycle)
    assert len(score) == 6 and sorted(score) == [0, 0, 0, 0, 0, 0.9]
    assert y_true.sum() == 3 and signs.tolist().count(0) == 5

    scores = score_network(only_one, cycle)
    # top k = 3: the 3rd largest score is 0, but zero scores are not predictions: the set is {A->B}
    assert scores["epr"] == pytest.approx(1 / 0.5)
    # points: (0, 1), (1/3, 1) at 0.9, (1, 3/6) at 0
    assert scores["auprc"] == pytest.approx(1 / 3 * 1 + 2 / 3 * (1 + 0.5) / 2)
    # 9 (true, false) pairs: A->B beats all 3 false ones, the other 6 pairs tie at 0 (count half)
    assert scores["auroc"] == pytest.approx((3 + 6 * 0.5) / 9)


def test_nothing_predicted_gives_zero_epr():
    scores = score_network(predicted(("X", "Y", 1.0)), CHAIN)  # outside the universe: ignored
    assert scores["epr"] == 0.0
    assert scores["auroc"] == pytest.approx(0.5)


def test_self_loops_are_ignored_in_truth_and_predictions():
    with_loops = truth(("A", "B", "+"), ("B", "C", "-"), ("A", "A", "+"))
    ranked = predicted(("A", "A", 5.0), ("C", "A", 0.9), ("A", "B", 0.8), ("B", "C", 0.7))
    scores = score_network(ranked, with_loops)
    assert scores["n_true_edges"] == 2 and scores["n_candidates"] == 6
    # as if A->A were absent: C->A (false) first, then the two true edges
    # points: (0, 1), (0, 0), (1/2, 1/2), (1, 2/3)
    assert scores["auprc"] == pytest.approx(0.5 * (0 + 0.5) / 2 + 0.5 * (0.5 + 2 / 3) / 2)
    assert scores["epr"] == pytest.approx((1 / 2) * 3)  # top 2: C->A, A->B


def test_a_gene_named_only_by_a_self_loop_still_joins_the_universe():
    scores = score_network(predicted(("A", "B", 1.0)), truth(("A", "B", "+"), ("B", "C", "-"), ("D", "D", "+")))
    assert scores["n_candidates"] == 12 and scores["n_true_edges"] == 2


def test_genes_override_the_universe_and_outside_edges_are_ignored():
    ranked = predicted(("A", "B", 0.9), ("B", "C", 0.8), ("E", "A", 100.0))
    scores = score_network(ranked, CHAIN, genes=["A", "B", "C", "D"])
    assert scores["n_candidates"] == 12 and scores["density"] == pytest.approx(2 / 12)
    assert scores["auprc_ratio"] == pytest.approx(6.0)  # perfect: the two true edges rank first


def test_duplicates():
    doubled_truth = truth(("A", "B", "+"), ("A", "B", "+"), ("B", "C", "-"))
    doubled_prediction = predicted(("A", "B", 0.1), ("B", "C", 0.5), ("A", "B", -0.9), ("A", "C", 0.3))
    y_true, score, signs = candidate_scores(doubled_prediction, doubled_truth)
    assert y_true.sum() == 2
    # candidate order: A->B, A->C, B->A, B->C, C->A, C->B; A->B keeps its larger |weight| and its sign
    assert score.tolist() == [0.9, 0.3, 0.0, 0.5, 0.0, 0.0]
    assert signs.tolist() == [-1, 1, 0, 1, 0, 0]
    assert score_network(doubled_prediction, doubled_truth)["n_true_edges"] == 2


def test_sign_accuracy():
    square = truth(("A", "B", "+"), ("B", "C", "-"), ("C", "D", "+"), ("D", "A", "-"))  # 4 of 12
    ranked = predicted(
        ("A", "B", 0.9),   # true, sign right
        ("B", "C", 0.8),   # true, sign wrong
        ("C", "D", -0.7),  # true, sign wrong
        ("A", "C", 0.6),   # false edge
        ("D", "A", -0.1),  # true and right, but outside the top 4
    )
    scores = score_network(ranked, square)
    assert scores["epr"] == pytest.approx((3 / 4) / (4 / 12))
    assert scores["sign_acc"] == pytest.approx(1 / 3)


def test_an_edge_listed_with_both_signs_matches_either():
    both = truth(("A", "B", "+"), ("A", "B", "-"), ("B", "C", "+"))
    scores = score_network(predicted(("A", "B", -0.9), ("B", "C", -0.5)), both)
    assert scores["n_true_edges"] == 2
    assert scores["sign_acc"] == pytest.approx(1 / 2)


def test_sign_accuracy_is_nan_for_unsigned_predictions_or_no_true_edge_in_top_k():
    unsigned = predicted(("A", "B", 0.9), ("B", "C", 0.0))
    assert math.isnan(score_network(unsigned, CHAIN)["sign_acc"])
    misses = predicted(("A", "C", -0.9), ("C", "A", 0.8), ("A", "B", 0.1))
    assert math.isnan(score_network(misses, CHAIN)["sign_acc"])


def test_format_scores_prints_one_aligned_row_per_metric():
    scores = score_network(predicted(("A", "B", 0.9), ("B", "C", 0.8)), CHAIN)
    lines = format_scores(scores).splitlines()
    assert len(lines) == 1 + len(scores) and len({len(line) for line in lines}) == 1
    assert lines[2].split() == ["auprc_ratio", "3.0000"]
    assert lines[-1].split() == ["n_candidates", "6"]
    assert lines[5].split() == ["sign_acc", "nan"]


@pytest.mark.parametrize(
    "prediction, reference, genes, message",
    [
        (predicted(("A", "B", 1.0)).drop(columns="EdgeWeight"), CHAIN, None, r"missing column\(s\) \['EdgeWeight'\]"),
        (predicted(("A", "B", 1.0)), CHAIN.drop(columns="Type"), None, r"missing column\(s\) \['Type'\]"),
        (predicted(("A", "B", 1.0)), truth(("A", "B", "+"), ("B", "C", "x")), None, r"unknown edge sign\(s\) \['x'\]"),
        (predicted(("A", "B", 1.0)), truth(("A", "A", "+")), None, "no edges between distinct genes"),
        (predicted(("A", "B", float("nan"))), CHAIN, None, r"EdgeWeight is NaN.*\('A', 'B'\)"),
        (predicted(("A", "B", 1.0)), CHAIN, ["A", "B"], r"absent from .*\['C'\]"),
        (predicted(("A", "B", 1.0)), CHAIN, ["A", "B", "C", "A"], r"duplicate gene name\(s\) \['A'\]"),
    ],
)
def test_bad_input_is_named(prediction, reference, genes, message):
    with pytest.raises(ValueError, match=message):
        score_network(prediction, reference, genes)


def test_a_tf_list_ranks_its_regulators_against_every_gene():
    # regulator A: candidates A -> B and A -> C; the truth's B -> C cannot be read out of the list and is left out,
    # and B's predicted edge is no candidate. Points (0, 1), (0, 0) after A -> C, (1, 1/2): area 1/4, density 1/2.
    ranked = predicted(("B", "C", 1.0), ("A", "C", 0.9), ("A", "B", 0.5))
    scores = score_network(ranked, CHAIN, regulators=["A"])
    assert scores["n_candidates"] == 2 and scores["n_true_edges"] == 1
    assert scores["auprc"] == pytest.approx(0.25) and scores["auprc_ratio"] == pytest.approx(0.5)
    assert scores["epr"] == 0.0 and scores["auroc"] == pytest.approx(0.0)
    y_true, score, _ = candidate_scores(ranked, CHAIN, regulators=["A"])
    assert list(y_true) == [True, False] and list(score) == [0.5, 0.9]  # A -> B, A -> C


def test_a_tf_list_without_a_truth_edge_is_named():
    with pytest.raises(InputError, match="no ground-truth edge starts at a regulator"):
        score_network(predicted(("C", "A", 1.0)), CHAIN, regulators=["C"])
    with_loop = truth(("A", "B", "+"), ("C", "C", "+"))  # C's only edge is a self-loop, which never counts
    with pytest.raises(InputError, match="no ground-truth edge starts at a regulator"):
        score_network(predicted(("C", "A", 1.0)), with_loop, regulators=["C"])
