"""Seeds of one method on BEELINE's real sets: each seed's AUPRC ratio per truth, and the network of their average
(grn.readout.seed_average: mean |weight|, majority sign; what evaluate_real's n_seeds would give), scored as
grn.evaluate_real scores.

    python results/real/seed_check.py <method> <out of seed 0> <out of seed 1> ...   (repository root)

Each out is an evaluate_real folder holding <dataset>/<method>.tsv; the datasets are those every out holds.
"""
import sys
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from grn.data.preprocess import preprocess
from grn.data.real import load_real
from grn.readout.network import seed_average
from grn.scoring.metrics import score_real

BEELINE = Path("../shared/data/real/beeline")


def main(method: str, outs: list[Path]):
    datasets = sorted(set.intersection(*({path.parent.name for path in out.glob(f"*/{method}.tsv")} for out in outs)))
    for name in datasets:
        adata = load_real(BEELINE / name)
        genes = list(preprocess(adata, **OmegaConf.load("configs/data/real.yaml").preprocess).var_names)  # as scored
        networks = [pd.read_csv(out / name / f"{method}.tsv", sep="\t").set_index(["source", "target"])["weight"]
                    for out in outs]
        pairs = networks[0].index
        average = seed_average([network.reindex(pairs, fill_value=0.0).to_numpy() for network in networks])
        labelled = {**{f"seed {i}": network.reset_index() for i, network in enumerate(networks)},
                    "seed average": pd.DataFrame({"source": pairs.get_level_values(0),
                                                  "target": pairs.get_level_values(1), "weight": average})}
        for label, network in labelled.items():
            scores = {truth: round(score_real(network, table, genes)["auprc_ratio"], 2)
                      for truth, table in adata.uns["truths"].items()}
            print(name, label, scores, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], [Path(arg) for arg in sys.argv[2:]])
