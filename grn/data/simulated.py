"""Simulated ground-truth datasets written as a BEELINE-like data_root, so that `python -m grn.evaluate`
scores ours, the baselines and (absent here) peers on them too:
    python -m grn.data.simulated out=outputs/simulated [sergio_seeds=[0,1]] [krumsiek11_seeds=[0,1,2]]
    python -m grn.evaluate data_root=outputs/simulated out=outputs/eval_simulated
Layout: <out>/simulated/krumsiek11/krumsiek11_sim_<seed>/ and <out>/simulated/sergio-<reference>/...,
each with ExpressionData.csv (genes x cells) and refNetwork.csv; no PseudoTime.csv (the `simulated`
group of configs/evaluate.yaml reads no pseudotime).
"""
from pathlib import Path

import anndata as ad
import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from grn.data.loaders import simulate_krumsiek11
from grn.io import atomic_write
from grn.data.sergio import simulate_sergio

GROUP = "simulated"


def write_beeline_dataset(adata: ad.AnnData, folder) -> Path:
    """ExpressionData.csv (genes x cells) and refNetwork.csv (Gene1, Gene2, Type) of one dataset."""
    folder = Path(folder)
    expression = pd.DataFrame(np.asarray(adata.X).T, index=adata.var_names, columns=adata.obs_names)
    atomic_write(folder / "refNetwork.csv", lambda tmp: adata.uns["ground_truth"].to_csv(tmp, index=False))
    atomic_write(folder / "ExpressionData.csv", lambda tmp: expression.to_csv(tmp))
    return folder


def export(out, sergio_seeds=(0,), krumsiek11_seeds=(0,), sergio_options=None) -> list[Path]:
    """Simulate and write every requested dataset under <out>/simulated/<family>/<name>."""
    root = Path(out) / GROUP
    folders = [write_beeline_dataset(simulate_krumsiek11(seed=seed), root / "krumsiek11" / f"krumsiek11_sim_{seed}")
               for seed in krumsiek11_seeds]
    for seed in sergio_seeds:
        adata = simulate_sergio(seed=seed, **(sergio_options or {}))
        family = f"sergio-{adata.uns['name'].split('_')[1]}"
        folders.append(write_beeline_dataset(adata, root / family / adata.uns["name"]))
    return folders


@hydra.main(version_base="1.3", config_path="../../configs", config_name="simulated")
def main(cfg: DictConfig) -> None:
    for folder in export(cfg.out, cfg.sergio_seeds, cfg.krumsiek11_seeds, dict(cfg.sergio)):
        print(folder)


if __name__ == "__main__":
    main()
