"""Real cells against experimental truths: python -m grn.evaluate_real data_root=<folder> out=<folder>

For each dataset folder under data_root (BEELINE's experimental benchmark or McCalla et al.'s sets; see
grn.data.real): every method gets the same expression (preprocessed once) and the same TF list, the
evaluated regulators of the dataset's truths. Our models are trained and read out through the run core
(grn.run) with that TF list; the peers (grn.scoring.peers) run on the same matrix. Each method's network is
written to <out>/<dataset>/<method>.tsv (source, target, weight: every regulator -> every gene) and scored
from that file on every (dataset, truth) with the protocol of grn.scoring.metrics.score_real. Then
<out>/results.csv and <out>/summary.md (every dataset scored into `out`, by this run or earlier ones), and one
W&B run (offline by default). A rerun skips what is done:
a dataset with <out>/<dataset>/scores.csv (written last), and within a dataset each method whose .tsv is
there (so methods may run on different machines into one `out`, e.g. the peers on CPUs, the models on a GPU).
"""
import json
import logging
import os
import time
from fnmatch import fnmatch
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from grn.data.preprocess import preprocess
from grn.data.real import find_real_datasets, load_real
from grn.errors import InputError
from grn.io import atomic_write, write_json
from grn.run import run
from grn.scoring.metrics import evaluated_regulators, score_real
from grn.scoring.peers import REAL_PEERS

log = logging.getLogger(__name__)

COLUMNS = ["dataset", "truth", "method", "auprc_ratio", "epr", "auroc", "n_regulators", "sign_acc", "n_signed",
           "seconds", "machine"]
SCORES = ["auprc_ratio", "epr", "auroc"]


def evaluate_real(cfg: DictConfig) -> pd.DataFrame:
    """Every chosen dataset (resuming finished ones), then results.csv and summary.md of every dataset in `out`,
    and the W&B run."""
    out = Path(cfg.out)
    unknown = sorted(set(cfg.peers) - set(REAL_PEERS))
    if unknown:
        raise InputError(f"unknown peer(s) {unknown}; expected some of {sorted(REAL_PEERS)}")
    folders = [folder for folder in find_real_datasets(cfg.data_root) if fnmatch(folder.name, cfg.datasets)]
    if not folders:
        raise InputError(f"no dataset matching {cfg.datasets!r} under {cfg.data_root}")
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # one trainer per model: keep the bar readable
    tables = [evaluate_dataset(folder, cfg, out / folder.name) for folder in tqdm(folders, desc="datasets")]
    # the tables cover every dataset scored into `out`, also by earlier runs given other datasets
    chosen = {folder.name for folder in folders}
    tables += [pd.read_csv(done) for done in sorted(out.glob("*/scores.csv")) if done.parent.name not in chosen]
    results = pd.concat(tables, ignore_index=True)[COLUMNS]
    atomic_write(out / "results.csv", lambda tmp: results.to_csv(tmp, index=False))
    summary = summary_markdown(results)
    atomic_write(out / "summary.md", lambda tmp: Path(tmp).write_text(summary))
    if cfg.wandb.enabled:
        _log_to_wandb(cfg, results, summary)
    print(summary)
    return results


def evaluate_dataset(folder: Path, cfg: DictConfig, out: Path) -> pd.DataFrame:
    """Every method's network on one dataset, written and scored on each of its truths."""
    done = out / "scores.csv"
    if done.exists():
        return pd.read_csv(done)
    adata = load_real(folder)
    regulators = truth_regulators(adata)  # one TF list for every method
    if cfg.max_genes is not None:
        adata = _slice(adata, regulators, cfg.max_genes)  # keeps every regulator
    data = preprocess(adata, **cfg.data.preprocess)  # once, for every method
    genes = list(data.var_names)
    timing_file = out / "timings.json"  # method -> seconds and the machine it ran on, kept across reruns
    timings = json.loads(timing_file.read_text()) if timing_file.exists() else {}
    networks = {}
    methods = [*cfg.models, *cfg.peers]
    for method in tqdm(methods, desc=folder.name, leave=False):
        path = out / f"{method}.tsv"
        if path.exists():  # finished by an earlier run
            networks[method] = pd.read_csv(path, sep="\t")
            continue
        start = time.perf_counter()
        if method in cfg.models:
            settings = OmegaConf.merge(cfg, {"model": {"attention": {"normaliser": cfg.models[method]}},
                                             "readout": {"regulators": regulators}})
            edges = run(settings, data=data).edges()
            network = edges.rename(columns={"Gene1": "source", "Gene2": "target", "EdgeWeight": "weight"})
        else:
            network = REAL_PEERS[method](np.asarray(data.X), genes, regulators, seed=cfg.seed)
        atomic_write(path, lambda tmp, table=network: table[["source", "target", "weight"]].to_csv(tmp, sep="\t", index=False))
        timings[method] = {"seconds": round(time.perf_counter() - start, 1), "machine": _machine()}
        write_json(timings, timing_file)
        networks[method] = pd.read_csv(path, sep="\t")  # score the file as written: a rerun from it scores the same
    rows = []
    for truth_name, truth in adata.uns["truths"].items():
        for method, network in networks.items():
            scores = score_real(network, truth, genes)  # the truth kept to `genes` there
            rows.append({"dataset": folder.name, "truth": truth_name, "method": method, **scores,
                         **timings.get(method, {"seconds": float("nan"), "machine": ""})})
    if any(fnmatch(folder.name, pattern) for pattern in cfg.signs.datasets):
        reference = signed_reference(cfg.signs.reference)
        for method, network in networks.items():
            rows.append({"dataset": folder.name, "truth": "omnipath_signs", "method": method,
                         **sign_agreement(network, reference, cfg.signs.top), **timings.get(method, {})})
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    atomic_write(done, lambda tmp: table.to_csv(tmp, index=False))
    return table


def truth_regulators(adata) -> list:
    """The evaluated regulators of every truth of a real dataset (their union), in the dataset's gene order."""
    evaluated = {gene for truth in adata.uns["truths"].values()
                 for gene in evaluated_regulators(truth, adata.var_names)}
    return [gene for gene in adata.var_names if gene in evaluated]


def signed_reference(path) -> pd.DataFrame:
    """OmniPath's consensus-signed TF -> target edges (sign +1 or -1; unsigned and conflicting rows left out)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"signs.reference: no file {path}")
    table = pd.read_csv(path, sep="\t", usecols=["source", "target", "sign"])
    return table[table["sign"] != 0]


def sign_agreement(network: pd.DataFrame, reference: pd.DataFrame, top: int) -> dict:
    """Among a network's `top` strongest edges, those the reference signs: the fraction whose predicted sign
    matches (`sign_acc`), and how many there were (`n_signed`). NaN for an unsigned network (no negative weight)."""
    strongest = network.reindex(network["weight"].abs().sort_values(ascending=False).index).head(top)
    matched = strongest.merge(reference, on=["source", "target"])
    signed = (network["weight"] < 0).any()
    agree = (np.sign(matched["weight"]) == matched["sign"]).mean() if signed and len(matched) else float("nan")
    return {"sign_acc": agree, "n_signed": len(matched)}


def _machine() -> str:
    """Where a method ran: the GPU when there is one (our models and RegDiffusion use it), else the CPU count."""
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"


def _slice(adata, regulators: list, max_genes: int):
    """The regulators and the first other genes, max_genes in all (at least the regulators), in data order."""
    regulator_set = set(regulators)
    others = [gene for gene in adata.var_names if gene not in regulator_set][:max(0, max_genes - len(regulators))]
    keep = regulator_set | set(others)
    sliced = adata[:, [gene in keep for gene in adata.var_names]].copy()
    kept = {name: truth[truth["Gene1"].isin(keep) & truth["Gene2"].isin(keep)]
            for name, truth in adata.uns["truths"].items()}
    sliced.uns["truths"] = {name: truth for name, truth in kept.items() if len(truth)}  # a truth may lose every edge
    return sliced


def summary_markdown(results: pd.DataFrame) -> str:
    """One table per score (`score_table`), how often the first method wins, and the sign agreement table."""
    ranked = results[results["truth"] != "omnipath_signs"]
    ours = results["method"].iloc[0]
    wins = {score: _wins(ranked, ours, score) for score in SCORES[:2]}
    sections = [score_table(results, score) for score in SCORES]
    sections.append(f"{ours} beats every other method's AUPRC ratio in {wins['auprc_ratio']} and its EPR in "
                    f"{wins['epr']} of the {ranked.groupby(['dataset', 'truth']).ngroups} settings.")
    sections.append(sign_table(results))
    return "\n\n".join(section for section in sections if section) + "\n"


def score_table(results: pd.DataFrame, score: str, methods=None) -> str:
    """A row per (dataset, truth), a column per method (in the order of `methods`, by default of appearance),
    the best of each row in bold."""
    present = list(dict.fromkeys(results["method"]))
    methods = [method for method in methods if method in present] if methods else present
    ranked = results[results["truth"] != "omnipath_signs"]
    table = ranked.pivot_table(index=["dataset", "truth"], columns="method", values=score, sort=False)
    table = table.reindex(columns=methods)
    lines = [f"### {score} ({len(table)} settings)", "",
             "| dataset | truth | " + " | ".join(methods) + " |", "|---" * (len(methods) + 2) + "|"]
    for (dataset, truth), row in table.iterrows():
        best = np.nanmax(row.to_numpy())
        cells = ["" if np.isnan(v) else (f"**{v:.2f}**" if v == best else f"{v:.2f}") for v in row]
        lines.append(f"| {dataset} | {truth} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sign_table(results: pd.DataFrame) -> str:
    """Sign agreement with OmniPath per dataset and method ("" where the results hold no sign rows)."""
    signs = results[results["truth"] == "omnipath_signs"]
    if signs.empty:
        return ""
    by_cell = signs.set_index(["dataset", "method"])
    methods = list(dict.fromkeys(signs["method"]))
    lines = ["### Sign agreement with OmniPath's consensus signs (top edges; signed edges found)", "",
             "| dataset | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for dataset in dict.fromkeys(signs["dataset"]):
        lines.append(f"| {dataset} | " + " | ".join(
            _sign_cell(by_cell.loc[(dataset, method)]) if (dataset, method) in by_cell.index else ""
            for method in methods) + " |")
    return "\n".join(lines)


def _sign_cell(row) -> str:
    """One method's sign agreement on one dataset: its value and count, none of its top edges signed in the
    reference, or an unsigned network (no negative weight)."""
    if row["n_signed"] == 0:
        return "no edge signed (0)"
    return "unsigned" if np.isnan(row["sign_acc"]) else f"{row['sign_acc']:.2f} ({int(row['n_signed'])})"


def _wins(results: pd.DataFrame, method: str, score: str) -> int:
    """Settings where `method` scores strictly above every other method."""
    table = results.pivot_table(index=["dataset", "truth"], columns="method", values=score)
    others = table.drop(columns=method)
    return int((table[method] > others.max(axis=1)).sum())


def _log_to_wandb(cfg: DictConfig, results: pd.DataFrame, summary: str) -> None:
    import wandb

    run_ = wandb.init(project=cfg.wandb.project, name=cfg.wandb.name, dir=str(Path(cfg.out)),
                      mode="offline" if cfg.wandb.offline else "online",
                      config=OmegaConf.to_container(cfg, resolve=True))
    run_.log({"results": wandb.Table(dataframe=results), "summary": wandb.Html(f"<pre>{summary}</pre>")})
    run_.summary.update({f"auprc_ratio/{row.dataset}/{row.truth}/{row.method}": row.auprc_ratio
                         for row in results.itertuples()})
    run_.finish()


@hydra.main(version_base="1.3", config_path="../configs", config_name="evaluate_real")
def main(cfg: DictConfig) -> None:
    try:
        evaluate_real(cfg)
    except InputError as error:
        log.error("%s", error)
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
