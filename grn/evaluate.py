"""Evaluate on every dataset of a BEELINE-like folder: python -m grn.evaluate data_root=<folder> out=<folder>

For each dataset (<data_root>/<group>/<family>/<dataset>/ExpressionData.csv, refNetwork.csv, ...):
train our models through the run core (grn.run; one fixed configuration per data group), run the baselines, write every method's
ranked edges to <out>/<dataset>/<method>.csv, and score them with the shipped peers/*.csv against the
ground truth; <out>/<dataset>/scores.csv, written last, marks the dataset finished, so a rerun skips
it. Then <out>/results.csv, the per-family median tables <out>/summary.md, PR curves and network
heatmaps per family under <out>/figures/, all logged to W&B (offline by default).
"""
import logging
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from grn.data.loaders import load_beeline
from grn.data.preprocess import preprocess
from grn.errors import InputError
from grn.io import atomic_write, write_ranked_edges
from grn.run import run
from grn.scoring.baselines import BASELINES
from grn.scoring.metrics import score_network
from grn.scoring.plots import plot_network_heatmap, plot_pr_curve

log = logging.getLogger(__name__)

COLUMNS = ["group", "family", "dataset", "method", "auprc_ratio", "epr", "auroc", "sign_acc"]


@dataclass(frozen=True)
class Dataset:
    group: str
    family: str
    name: str
    folder: Path


def find_datasets(data_root, pattern: str = "*") -> list[Dataset]:
    """Every <group>/<family>/<dataset> folder holding ExpressionData.csv whose name matches `pattern`."""
    root = Path(data_root)
    if not root.is_dir():
        raise InputError(f"data_root is not a folder: {root}")
    folders = sorted(path.parent for path in root.glob("*/*/*/ExpressionData.csv"))
    datasets = [Dataset(f.parent.parent.name, f.parent.name, f.name, f) for f in folders if fnmatch(f.name, pattern)]
    if not datasets:
        raise InputError(f"no dataset matching {pattern!r} under {root} (expected <group>/<family>/<dataset>/"
                         "ExpressionData.csv)")
    names = [d.name for d in datasets]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"dataset names must be unique under {root}; repeated: {repeated[:5]}")
    return datasets


def evaluate(cfg: DictConfig) -> pd.DataFrame:
    """Evaluate every dataset (resuming finished ones), then write and log the tables and figures."""
    out = Path(cfg.out)
    datasets = find_datasets(cfg.data_root, cfg.datasets)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # one trainer per model: keep the bar readable
    scores = []
    for dataset in tqdm(datasets, desc="datasets", unit="dataset"):
        scores.append(evaluate_dataset(dataset, cfg, out / dataset.name))
    results = pd.concat(scores, ignore_index=True)[COLUMNS]
    atomic_write(out / "results.csv", lambda tmp: results.to_csv(tmp, index=False))
    summary = summary_markdown(results)
    atomic_write(out / "summary.md", lambda tmp: Path(tmp).write_text(summary))
    figures = family_figures(datasets, results, out, cfg)
    if cfg.wandb.enabled:
        _log_to_wandb(cfg, results, summary, figures)
    print(summary)
    return results


def evaluate_dataset(dataset: Dataset, cfg: DictConfig, folder: Path) -> pd.DataFrame:
    """Scores of every method on one dataset; read back from scores.csv when already finished."""
    done = folder / "scores.csv"
    if done.exists():
        return pd.read_csv(done)
    adata = load_beeline(path=dataset.folder)
    settings = group_settings(cfg, dataset.group)
    expression = preprocess(adata, **settings.data.preprocess)  # once, for every model and baseline
    networks = {}
    for method, normaliser in cfg.models.items():
        settings.model.attention.normaliser = normaliser
        networks[method] = run(settings, data=expression).edges()
    for name in cfg.baselines:
        if name not in BASELINES:
            raise InputError(f"unknown baseline {name!r}; expected one of {sorted(BASELINES)}")
        networks[name] = BASELINES[name](np.asarray(expression.X), list(expression.var_names))
    for method, edges in networks.items():  # score the files as written: a rerun from them scores the same
        networks[method] = pd.read_csv(write_ranked_edges(edges, folder / f"{method}.csv"), sep="\t")
    if cfg.peers:
        for path in sorted((dataset.folder / "peers").glob("*.csv")):
            networks[f"peer:{path.stem}"] = pd.read_csv(path, sep="\t")
    truth = adata.uns["ground_truth"]
    rows = [{"group": dataset.group, "family": dataset.family, "dataset": dataset.name, "method": method,
             **score_network(edges, truth)} for method, edges in networks.items()]
    table = pd.DataFrame(rows)[COLUMNS]
    atomic_write(done, lambda tmp: table.to_csv(tmp, index=False))
    return table


def group_settings(cfg: DictConfig, group: str) -> DictConfig:
    """The run settings with the data group's overrides (`groups.<group>`) merged in.
    `refine: null` turns the refine step off for every group, whatever a group would change in it."""
    settings = OmegaConf.merge(cfg, cfg.groups.get(group) or {})
    if cfg.refine is None:
        settings.refine = None
    return settings


def summary_markdown(results: pd.DataFrame) -> str:
    """Per-family medians (over datasets) of each score, one markdown table per score, methods as rows."""
    sections = []
    families = list(dict.fromkeys(results.sort_values(["group", "family"])["family"]))
    methods = list(dict.fromkeys(results["method"]))
    for score in ("auprc_ratio", "epr", "auroc", "sign_acc"):
        table = results.pivot_table(index="method", columns="family", values=score, aggfunc="median")
        table = table.reindex(index=methods, columns=families)
        lines = [f"### Median {score} per family ({results['dataset'].nunique()} datasets)", "",
                 "| method | " + " | ".join(families) + " |", "|---" * (len(families) + 1) + "|"]
        for method, row in table.iterrows():
            cells = ["" if np.isnan(value) else f"{value:.2f}" for value in row]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def family_figures(datasets: list[Dataset], results: pd.DataFrame, out: Path, cfg: DictConfig) -> dict:
    """PR curves (ours, the baselines, the best peer) and our network's heatmap on each family's first dataset."""
    figures = {}
    first = {}
    for dataset in datasets:
        first.setdefault(dataset.family, dataset)
    for family, dataset in first.items():
        truth = load_beeline(path=dataset.folder).uns["ground_truth"]
        scored = results[results["dataset"] == dataset.name].set_index("method")["auprc_ratio"]
        peers = scored[scored.index.str.startswith("peer:")]
        curves = {method: pd.read_csv(out / dataset.name / f"{method}.csv", sep="\t")
                  for method in [*cfg.models, *cfg.baselines]}
        if len(peers):
            best = peers.idxmax()
            curves[best] = pd.read_csv(dataset.folder / "peers" / f"{best.split(':', 1)[1]}.csv", sep="\t")
        figures[f"{family}/pr_curve"] = out / "figures" / f"{family}_pr_curve.png"
        plot_pr_curve(curves, truth, figures[f"{family}/pr_curve"], title=dataset.name)
        ours = next(iter(cfg.models))
        genes = sorted(set(truth["Gene1"]) | set(truth["Gene2"]))
        figures[f"{family}/network"] = out / "figures" / f"{family}_network.png"
        plot_network_heatmap(curves[ours][curves[ours]["Gene1"].isin(genes) & curves[ours]["Gene2"].isin(genes)],
                             genes, figures[f"{family}/network"], truth, title=f"{dataset.name}: {ours}")
    return figures


def _log_to_wandb(cfg: DictConfig, results: pd.DataFrame, summary: str, figures: dict) -> None:
    import wandb

    run = wandb.init(project=cfg.wandb.project, name=cfg.wandb.name, dir=str(Path(cfg.out)),
                     mode="offline" if cfg.wandb.offline else "online",
                     config=OmegaConf.to_container(cfg, resolve=True))
    medians = results.groupby(["family", "method"])[COLUMNS[4:]].median().reset_index()
    run.log({"results": wandb.Table(dataframe=results), "family_medians": wandb.Table(dataframe=medians),
             "summary": wandb.Html(f"<pre>{summary}</pre>"),
             **{f"figures/{key}": wandb.Image(str(path)) for key, path in figures.items()}})
    run.summary.update({f"median_auprc_ratio/{row.family}/{row.method}": row.auprc_ratio
                        for row in medians.itertuples()})
    run.finish()


@hydra.main(version_base="1.3", config_path="../configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    try:
        evaluate(cfg)
    except InputError as error:
        log.error("%s", error)
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
