"""Does the BEELINE refine step (grn/readout/refine.py: balance, orient by pseudotime) help a network read out
on real cells? Each network written by grn.evaluate_real is refined with each variant below, from the data it
was trained on, and every variant is scored on each truth by the real-data protocol (AUPRC ratio).

    python results/real/refine_check.py <BEELINE dataset folder> name=<network.tsv> ...

Weights only move in magnitude here (the scores rank |weight|), so every variant votes signs by the
model's effect alone.
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from grn.data.preprocess import preprocess
from grn.data.real import load_real
from grn.readout.refine import evidence_from, refine
from grn.scoring.metrics import score_real

ORIENT = {"bins": 40, "lags": [1, 2, 4, 6], "sharpness": 20, "pooling": "p4", "strength_power": 0}
VARIANTS = {
    "as read out": None,
    "balance": {"balance": True, "orient": None},
    "orient": {"balance": False, "orient": ORIENT},
    "orient, max pooling": {"balance": False, "orient": {**ORIENT, "pooling": "max"}},
    "balance + orient": {"balance": True, "orient": ORIENT},
    "orient, sharpness 5": {"balance": False, "orient": {**ORIENT, "sharpness": 5}},
    "balance + orient, sharpness 5": {"balance": True, "orient": {**ORIENT, "sharpness": 5}},
}


def weight_matrix(network: pd.DataFrame, genes: list) -> np.ndarray:
    """(target, regulator) weights over `genes`; pairs the network lacks weigh 0."""
    index = {gene: i for i, gene in enumerate(genes)}
    weights = np.zeros((len(genes), len(genes)))
    weights[network["target"].map(index), network["source"].map(index)] = network["weight"]
    return weights


def as_network(weights: np.ndarray, genes: list, network: pd.DataFrame) -> pd.DataFrame:
    """`network`'s pairs with their weights taken from `weights`."""
    index = {gene: i for i, gene in enumerate(genes)}
    return network.assign(weight=weights[network["target"].map(index), network["source"].map(index)])


def main(folder: str, sources: list[str]) -> None:
    with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[2] / "configs"), version_base=None):
        cfg = compose("evaluate_real")
    adata = load_real(folder)
    data = preprocess(adata, **cfg.data.preprocess)
    genes = list(data.var_names)
    # each variant's options and evidence (the lagged correlations) once, for every network
    variants = {variant: None if options is None else OmegaConf.create({**options, "sign_votes": ["effect"]})
                for variant, options in VARIANTS.items()}
    evidence = {variant: evidence_from(data, options) for variant, options in variants.items() if options is not None}
    rows = []
    for name, path in (source.split("=", 1) for source in sources):
        network = pd.read_csv(path, sep="\t")
        weights = weight_matrix(network, genes)
        for variant, options in variants.items():
            refined = network
            if options is not None:
                refined = as_network(refine(weights, evidence[variant], options), genes, network)
            for truth_name, truth in adata.uns["truths"].items():
                rows.append({"dataset": Path(folder).name, "truth": truth_name, "network": name, "refine": variant,
                             "auprc_ratio": round(score_real(refined, truth, genes)["auprc_ratio"], 2)})
    table = pd.DataFrame(rows).pivot(index=["dataset", "network", "refine"], columns="truth", values="auprc_ratio")
    print(table.to_string())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
