"""Linear read-outs of BEELINE's real sets, scored as grn.evaluate_real scores (AUPRC ratio per truth), to see
what the transformer's read-out loses (results/real/README.md). On standardised genes z with covariance C:

- pearson: C itself;
- beta(l): the coefficient of regulator j when target i is regressed on every other gene, -P_ji / P_ii with
  P = (C + l I)^-1 (ridge l), which a masked model with every gene as context estimates;
- regulators_only(l): the same regression on the regulators alone (GENIE3's setting);
- beta(l) rank 16: beta truncated to its 16 largest singular values (a 16-dimensional head's rank);
- beta(l) x knockout: each regulator's column scaled by its mean |z_j - z_j(zero expression)|, which is how the
  knockout read-out sees a linear model (the raise read-out by one standard deviation sees beta itself);
- beta(l) on kNN-smoothed cells: each cell replaced by the mean of its 15 nearest cells (30 principal components),
  an imputation against dropout;
- pseudotime lag: the correlation of regulator j's mean over the 20 cells before a cell in pseudotime with target
  i in that cell (a regulator acts before its target).

    python results/real/linear_check.py mDC_TFs500 hHep_TFs500 mESC_TFs500 mHSC-GM_TFs500 mDC_TFs1000 hHep_TFs1000
"""
import sys

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from grn.data.preprocess import preprocess
from grn.data.real import load_real
from grn.evaluate_real import truth_regulators
from grn.scoring.metrics import score_real


def beta(C, l):
    P = np.linalg.inv(C + l * np.eye(len(C)))
    weights = -P / np.diag(P)[None, :]  # (regulator j, target i)
    np.fill_diagonal(weights, 0.0)  # a gene's own coefficient (-1) is no edge, and would dominate the rank cut
    return weights


def regulators_only(C, rows, l):
    weights = np.zeros((len(C), len(C)))
    for target in range(len(C)):
        kept = [row for row in rows if row != target]
        weights[kept, target] = np.linalg.solve(C[np.ix_(kept, kept)] + l * np.eye(len(kept)), C[kept, target])
    return weights


def knn_smoothed(z, k=15, components=30):
    u, s, _ = np.linalg.svd(z - z.mean(0), full_matrices=False)
    scores = u[:, :components] * s[:components]
    distances = ((scores[:, None] - scores[None]) ** 2).sum(-1)
    return z[np.argsort(distances, axis=1)[:, :k]].mean(1)


def pseudotime_lag(z, pseudotime, k=20):
    z = z[np.argsort(pseudotime)]
    totals = np.cumsum(np.vstack([np.zeros((1, z.shape[1])), z]), axis=0)
    before, now = standardised((totals[k:-1] - totals[:-k - 1]) / k), standardised(z[k:])
    return before.T @ now / len(now)


def standardised(x):
    return (x - x.mean(0)) / (x.std(0) + 1e-8)


def auprc_by_truth(adata, genes, regulators, weights):
    """AUPRC ratio per truth of a (regulator j, target i) matrix over `genes`, as grn.evaluate_real scores: the
    truths' regulators -> every other gene."""
    rows = [genes.index(gene) for gene in regulators]
    network = pd.DataFrame({"source": np.repeat(regulators, len(genes)), "target": np.tile(genes, len(rows)),
                            "weight": weights[rows].ravel()})
    network = network[network["source"] != network["target"]]
    return {truth: round(score_real(network, table, genes)["auprc_ratio"], 2) for truth, table in adata.uns["truths"].items()}


def main(names):
    preprocessing = OmegaConf.load("configs/data/real.yaml").preprocess
    for name in names:
        adata = load_real(f"../shared/data/real/beeline/{name}")
        regulators = truth_regulators(adata)
        data = preprocess(adata, **preprocessing)
        genes = list(data.var_names)
        X = np.asarray(data.X, dtype=np.float64)
        mean, std = X.mean(0), X.std(0) + 1e-8
        z = (X - mean) / std
        C = z.T @ z / len(z)
        rows = [genes.index(gene) for gene in regulators]
        knockout_distance = np.abs(z + mean / std).mean(0)
        u, s, vt = np.linalg.svd(beta(C, 30))
        networks = {"pearson": C, **{f"beta({l})": beta(C, l) for l in (10, 30, 100)},
                    "regulators_only(10)": regulators_only(C, rows, 10),
                    "beta(30) rank 16": (u[:, :16] * s[:16]) @ vt[:16],
                    "beta(10) x knockout": beta(C, 10) * knockout_distance[:, None]}
        smooth = standardised(knn_smoothed(z))
        for l in (30, 100):
            networks[f"beta({l}) on kNN-smoothed cells"] = beta(smooth.T @ smooth / len(smooth), l)
        networks["pseudotime lag"] = pseudotime_lag(z, data.obs.iloc[:, 0].to_numpy())
        for label, weights in networks.items():
            print(name, label, auprc_by_truth(adata, genes, regulators, weights), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
