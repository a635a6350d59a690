"""The one run core: data -> model(s) -> fit -> network read-out -> refine -> scores -> outputs and logs.

`run(cfg)` is what `train.py` calls and what `grn.evaluate` calls for each dataset and model. `cfg` is
composed from the Hydra groups in `configs/` (data, model, readout, trainer, logger, callbacks, paths).
Files are written only where `cfg.paths.output_dir` is set: network.csv, metrics.json, plots (when
`cfg.plots`), checkpoints (when the callbacks make them).
"""
import logging
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from grn.data.datamodule import ExpressionDataModule
from grn.data.preprocess import preprocess, with_pseudotime
from grn.data.regulators import regulators_in, tf_list
from grn.errors import InputError
from grn.io import LARGE_NETWORK_EDGES, atomic_write, write_json, write_parquet, write_ranked_edges
from grn.model.module import GRNModule, TrainedOn
from grn.readout.edges import edges_from_matrix
from grn.readout.network import check_readout, read_network, resolve, seed_average
from grn.readout.refine import evidence_from, refine
from grn.scoring.metrics import format_scores, score_network, starts_at
from grn.scoring.plots import plot_network_heatmap, plot_pr_curve
from ncd_layers import draw

log = logging.getLogger(__name__)


@dataclass
class Network:
    """A run's result: the (target i, regulator j) weights over `genes`, the regulators read (None: every
    gene), its metrics and trained modules."""
    genes: list
    weights: np.ndarray
    metrics: dict
    regulators: list | None = None
    modules: list = field(default_factory=list, repr=False)

    def edges(self, max_edges: int | None = None) -> pd.DataFrame:
        """Ranked edges regulator -> target, strongest first; only the max_edges strongest when given."""
        columns = None if self.regulators is None else [self.genes.index(gene) for gene in self.regulators]
        return edges_from_matrix(self.weights, self.genes, max_edges, regulators=columns)


def run(cfg: DictConfig, data=None) -> Network | None:
    """Train cfg.n_seeds models (seeds cfg.seed, cfg.seed + 1, ...) on one dataset and read out its network.

    `data`: an AnnData already preprocessed as cfg.data.preprocess says (checkpoints record those settings);
    by default cfg.data.source is loaded and preprocessed.
    Several seeds' read-outs are averaged (`seed_average`), then refined with the data when cfg.refine is
    set. Returns None on every process but rank zero."""
    out = Path(cfg.paths.output_dir) if cfg.paths.get("output_dir") else None
    tfs = tf_list(cfg.readout.regulators) if cfg.readout.get("regulators") else ()
    if data is None:
        data = preprocess(load_data(cfg.data.source), **cfg.data.preprocess, keep_genes=tfs)
    genes = list(data.var_names)
    regulators = regulators_in(tfs, genes) if tfs else None
    n_regulators = None if regulators is None else len(regulators)
    n_seeds = cfg.get("n_seeds", 1)
    if not isinstance(n_seeds, int) or isinstance(n_seeds, bool) or n_seeds < 1:
        raise InputError(f"n_seeds must be a whole number >= 1, got {n_seeds!r}")
    evidence = evidence_from(data, cfg.get("refine"))  # before training, so that bad settings fail first
    truth = data.uns.get("ground_truth")
    if truth is not None and regulators is not None and not starts_at(truth, regulators):
        log.warning("no ground-truth edge starts at a TF of the list: the network will not be scored")
        truth = None
    inputs = with_pseudotime(data) if cfg.data.get("pseudotime") else data
    check_readout(cfg.readout, inputs.n_vars, n_regulators, gene_coupling=bool(cfg.model.get("gene_coupling")))
    loggers = _loggers(cfg, out)
    columns = None if regulators is None else [genes.index(gene) for gene in regulators]
    fits = [_fit(cfg, inputs, seed, out, loggers, several=n_seeds > 1, regulators=columns)
            for seed in range(cfg.seed, cfg.seed + n_seeds)]
    if any(fit is None for fit in fits):  # other processes than rank zero
        return None
    weights = seed_average([fit.weights[:len(genes), :len(genes)] for fit in fits])
    if cfg.get("refine"):
        weights = refine(weights, evidence, cfg.refine)
    method, mode = resolve(cfg.readout, inputs.n_vars, n_regulators)
    attention = cfg.model.attention.normaliser if cfg.model.depth else "none"  # no transformer block, no attention
    metrics = {"dataset": data.uns.get("name", ""), "attention": attention,
               "readout": f"{method} ({mode})", "n_cells": int(data.n_obs), "n_genes": len(genes),
               "n_regulators": len(regulators or genes)}
    if fits[-1].val_loss is not None:
        metrics["val_loss"] = fits[-1].val_loss
    scored = scores = None
    if truth is not None:
        scored = _edges_among_truth_genes(weights, genes, truth)
        scores = score_network(scored, truth, regulators=regulators)
        metrics.update(scores)
    network = Network(genes, weights, metrics, regulators, [fit.module for fit in fits])
    if out is not None:
        if scores is not None:
            print(f"\nGRN scores ({metrics['dataset']}, {_attention_label(metrics)}, {method} read-out)\n"
                  f"{format_scores(scores)}")
        figures = _write_outputs(cfg, network, scored, truth, out)
        for logger in loggers:
            _log_results(logger, metrics, figures)
        log.info("outputs in %s", out)
    return network


@dataclass
class _Fit:
    module: GRNModule
    weights: np.ndarray
    val_loss: float | None


def _fit(cfg: DictConfig, data, seed: int, out: Path | None, loggers: list, several: bool,
         regulators: list | None) -> _Fit | None:
    """One model trained at `seed` with the Lightning trainer, and its (target, regulator) read-out.
    With several seeds, each keeps its checkpoints in its own folder, so that a resumed run resumes each."""
    L.seed_everything(seed, workers=True, verbose=False)
    datamodule = ExpressionDataModule(data, seed=seed, regulators=regulators, **cfg.data.loader)
    model_options = {key: value for key, value in cfg.model.items() if key != "attention"}
    normalize_total = cfg.data.preprocess.get("normalize_total")
    trained_on = TrainedOn(datamodule.genes, datamodule.mean, datamodule.std,
                           None if normalize_total is None else float(normalize_total),
                           bool(cfg.data.preprocess.get("log1p")), datamodule.mask_fraction,
                           None if regulators is None else [datamodule.genes[i] for i in regulators])
    try:
        module = GRNModule(n_genes=datamodule.n_genes, normaliser=cfg.model.attention.normaliser,
                           trained_on=trained_on, **model_options)
    except ValueError as error:
        raise InputError(f"model config: {error}") from error
    checkpoints = None if out is None else out / "checkpoints" / (f"seed{seed}" if several else "")
    callbacks = [instantiate(options) for options in (cfg.get("callbacks") or {}).values()]
    for callback in callbacks:
        if several and isinstance(callback, ModelCheckpoint):
            callback.dirpath = str(checkpoints)
    strategy = {}
    if cfg.model.get("coupling_first_steps") and cfg.trainer.get("strategy") == "ddp":
        # the coupling trains alone first and the transformer after it: each phase leaves parameters unused
        strategy = {"strategy": "ddp_find_unused_parameters_true"}
    trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks, **strategy)
    last = None if checkpoints is None else checkpoints / "last.ckpt"
    resume_from = str(last) if cfg.get("resume") and last is not None and last.exists() else None
    if resume_from:
        log.info("resuming from %s", resume_from)
    trainer.fit(module, datamodule, ckpt_path=resume_from)
    if last is not None and not trainer.fast_dev_run:
        trainer.save_checkpoint(last)  # the periodic one may predate the last steps
    # Attention: each process reads its share of the cells and the partial sums are all-reduced.
    # Perturbation: rank 0 reads them all. Either way the network does not depend on the process count.
    method, _ = resolve(cfg.readout, datamodule.n_genes, None if regulators is None else len(regulators))
    module.to(trainer.strategy.root_device)  # Lightning hands the model back on the CPU after fit
    if method == "attention" or trainer.is_global_zero:
        weights = read_network(module.model, datamodule, cfg.readout, seed, shard=trainer.global_rank,
                               shards=trainer.world_size,
                               reduce=lambda partial: trainer.strategy.reduce(partial, reduce_op="sum"),
                               regulators=regulators)
    if not trainer.is_global_zero:
        return None
    val_loss = trainer.callback_metrics.get("val/loss")
    return _Fit(module, weights, None if val_loss is None else float(val_loss))


def _write_outputs(cfg: DictConfig, network: Network, scored, truth, out: Path) -> dict:
    """network.csv (the strongest readout.max_edges; scores use every edge) and, for a network of more
    than LARGE_NETWORK_EDGES edges, the same edges as network.parquet; metrics.json and, when cfg.plots,
    the figures; returns the figures written."""
    strongest = network.edges(cfg.readout.get("max_edges"))
    write_ranked_edges(strongest, out / "network.csv")
    if len(network.regulators or network.genes) * (len(network.genes) - 1) > LARGE_NETWORK_EDGES:
        write_parquet(strongest, out / "network.parquet")
    write_json(network.metrics, out / "metrics.json")
    if not cfg.get("plots", True):
        return {}
    name, model = network.metrics["dataset"], _attention_label(network.metrics)
    figures = {"network": out / "network_heatmap.png", "diagram": out / "model_diagram.png"}
    if scored is not None:
        figures["pr_curve"] = out / "pr_curve.png"
        plot_pr_curve({model: scored}, truth, figures["pr_curve"], title=name,
                      regulators=network.regulators)
    plot_network_heatmap(strongest, network.genes, figures["network"], truth, title=f"{name}: {model}")
    diagram = network.modules[0].model.diagram
    draw(diagram, figures["diagram"])
    draw(diagram, out / "model_diagram.svg")
    return figures


def _attention_label(metrics: dict) -> str:
    return "no attention" if metrics["attention"] == "none" else f"{metrics['attention']} attention"


def _edges_among_truth_genes(weights, genes, truth):
    """Every edge between genes the ground truth names: scoring ranks all candidate pairs among them,
    not only those that made network.csv's cut."""
    named = set(truth["Gene1"].astype(str)) | set(truth["Gene2"].astype(str))
    keep = [i for i, gene in enumerate(genes) if str(gene) in named]
    return edges_from_matrix(np.asarray(weights)[np.ix_(keep, keep)], [genes[i] for i in keep])


def load_data(source: DictConfig):
    """Instantiate a data config; bad input surfaces as our InputError, not Hydra's wrapper around it."""
    try:
        return instantiate(source)
    except InstantiationException as error:
        if isinstance(error.__cause__, InputError):
            raise error.__cause__ from None
        raise


def _loggers(cfg, out: Path | None) -> list:
    """Instantiate the configured loggers; a resumed run continues its own W&B run, not a new one."""
    id_file = None if out is None else out / "wandb_run_id.txt"
    resuming = bool(cfg.get("resume")) and out is not None and any((out / "checkpoints").glob("**/last.ckpt"))
    loggers = []
    for options in (cfg.get("logger") or {}).values():
        is_wandb = options.get("_target_", "").endswith("WandbLogger")
        if is_wandb and resuming and id_file.exists():
            logger = instantiate(options, id=id_file.read_text().strip(), resume="allow")
        else:
            logger = instantiate(options)
        if is_wandb and id_file is not None and rank_zero_only.rank == 0:
            atomic_write(id_file, lambda tmp, run_id=logger.experiment.id: Path(tmp).write_text(run_id))
        loggers.append(logger)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    return loggers


def _log_results(logger, metrics: dict, figures: dict) -> None:
    numbers = {f"grn/{key}": value for key, value in metrics.items() if isinstance(value, (int, float))}
    logger.log_metrics(numbers)
    if hasattr(logger, "log_image"):
        for key, path in figures.items():
            logger.log_image(key=f"grn/{key}", images=[str(path)])
    if hasattr(logger, "experiment") and hasattr(logger.experiment, "summary"):
        logger.experiment.summary.update(numbers)
