"""Scoring inferred networks against a ground truth (BEELINE's conventions), the classical baselines
run on the same inputs, and the figures."""
from grn.scoring.baselines import BASELINES, genie3, grnboost2, partial_correlation, pearson, spearman
from grn.scoring.metrics import candidate_scores, format_scores, score_network
from grn.scoring.plots import plot_network_heatmap, plot_pr_curve

__all__ = ["BASELINES", "candidate_scores", "format_scores", "genie3", "grnboost2", "partial_correlation",
           "pearson", "plot_network_heatmap", "plot_pr_curve", "score_network", "spearman"]
