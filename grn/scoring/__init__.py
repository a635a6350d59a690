"""Scoring inferred networks against a ground truth (BEELINE's conventions, and the real-cell protocol),
the classical baselines and the real-cell peers run on the same inputs, and the figures."""
from grn.scoring.baselines import BASELINES, genie3, grnboost2, partial_correlation, pearson, spearman
from grn.scoring.metrics import candidate_scores, evaluated_regulators, format_scores, score_network, score_real
from grn.scoring.peers import REAL_PEERS
from grn.scoring.plots import plot_network_heatmap, plot_pr_curve

__all__ = ["BASELINES", "REAL_PEERS", "candidate_scores", "evaluated_regulators", "format_scores", "genie3",
           "grnboost2", "partial_correlation", "pearson", "plot_network_heatmap", "plot_pr_curve", "score_network",
           "score_real", "spearman"]
