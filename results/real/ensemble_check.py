"""Do two networks of one dataset, rank-averaged, score above either? Each network's |weight| becomes its
percentile rank, a pair missing from one network counts 0 there, and the mean ranks are scored on each
truth by the real-data protocol (grn.scoring.metrics.score_real), beside the networks alone.

    python results/real/ensemble_check.py <dataset folder> name=<network.tsv> ... [name=pearson]

`pearson` builds the Pearson peer on the dataset's preprocessed matrix (configs/evaluate_real.yaml), as
grn.evaluate_real does; other names read a `<method>.tsv` that grn.evaluate_real wrote.
"""
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir

from grn.data.preprocess import preprocess
from grn.data.real import load_real
from grn.evaluate_real import truth_regulators
from grn.scoring.metrics import score_real
from grn.scoring.peers import REAL_PEERS

PAIR = ["source", "target"]


def percentile_ranks(network: pd.DataFrame) -> pd.DataFrame:
    return network.assign(weight=network["weight"].abs().rank(pct=True))[PAIR + ["weight"]]


def rank_average(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    both = percentile_ranks(first).merge(percentile_ranks(second), on=PAIR, how="outer").fillna(0.0)
    return both.assign(weight=(both["weight_x"] + both["weight_y"]) / 2)[PAIR + ["weight"]]


def main(folder: str, sources: list[str]) -> None:
    with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[2] / "configs"), version_base=None):
        cfg = compose("evaluate_real")
    adata = load_real(folder)
    truths = adata.uns["truths"]
    regulators = truth_regulators(adata)
    data = preprocess(adata, **cfg.data.preprocess)
    genes = list(data.var_names)
    networks = {}
    for name, path in (source.split("=", 1) for source in sources):
        networks[name] = (REAL_PEERS["pearson"](np.asarray(data.X), genes, regulators, seed=cfg.seed)
                          if path == "pearson" else pd.read_csv(path, sep="\t"))
    for first, second in itertools.combinations(list(networks), 2):
        networks[f"{first}+{second}"] = rank_average(networks[first], networks[second])
    rows = [{"dataset": Path(folder).name, "truth": truth_name, "network": name,
             "auprc_ratio": round(score_real(network, truth, genes)["auprc_ratio"], 2)}
            for truth_name, truth in truths.items() for name, network in networks.items()]
    print(pd.DataFrame(rows).pivot(index=["dataset", "truth"], columns="network", values="auprc_ratio").to_string())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
