"""One training run, end to end: data -> model -> fit -> network read-out -> scores -> outputs and logs."""
import logging
from pathlib import Path

import lightning as L
import numpy as np
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from grn.datamodule import ExpressionDataModule
from grn.errors import InputError
from grn.io import atomic_write, write_json, write_ranked_edges
from grn.lit_module import GRNModule
from grn.metrics import format_scores, score_network
from grn.plots import plot_network_heatmap, plot_pr_curve
from grn.preprocess import preprocess
from grn.network import check_readout, read_network, resolve
from grn.readout import edges_from_matrix

log = logging.getLogger(__name__)


def train_and_read_out(cfg: DictConfig) -> dict:
    """Train on cfg.data, write network.csv, metrics.json and plots to the run folder; return the metrics."""
    out = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True)
    adata = preprocess(load_data(cfg.data.source), **cfg.data.preprocess)
    datamodule = ExpressionDataModule(adata, seed=cfg.seed, **cfg.data.loader)
    check_readout(cfg.readout, datamodule.n_genes)
    model_options = {key: value for key, value in cfg.model.items() if key != "attention"}
    normaliser = cfg.model.attention.normaliser
    try:
        module = GRNModule(n_genes=datamodule.n_genes, normaliser=normaliser, **model_options)
    except ValueError as error:
        raise InputError(f"model config: {error}") from error

    resume_from = _resume_checkpoint(cfg, out)
    loggers = _loggers(cfg, out, resuming=resume_from is not None)
    callbacks = [instantiate(options) for options in (cfg.get("callbacks") or {}).values()]
    trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    trainer.fit(module, datamodule, ckpt_path=resume_from)
    if not trainer.fast_dev_run:
        trainer.save_checkpoint(out / "checkpoints" / "last.ckpt")  # the periodic one may predate the last steps
    # Attention: each process reads its share of the cells and the partial sums are all-reduced.
    # Perturbation: rank 0 reads them all. Either way the network does not depend on the process count.
    method, mode = resolve(cfg.readout, datamodule.n_genes)
    module.to(trainer.strategy.root_device)  # Lightning hands the model back on the CPU after fit
    if method == "attention" or trainer.is_global_zero:
        weights = read_network(module.model, datamodule, cfg.readout, normaliser, cfg.seed,
                               shard=trainer.global_rank, shards=trainer.world_size,
                               reduce=lambda partial: trainer.strategy.reduce(partial, reduce_op="sum"))
    if not trainer.is_global_zero:
        return {}
    edges = edges_from_matrix(weights, datamodule.genes, cfg.readout.get("max_edges"))
    write_ranked_edges(edges, out / "network.csv")  # the strongest max_edges; scores use every edge
    metrics = {"dataset": adata.uns.get("name", ""), "attention": normaliser, "readout": f"{method} ({mode})",
               "n_cells": int(adata.n_obs), "n_genes": int(adata.n_vars)}
    if "val/loss" in trainer.callback_metrics:
        metrics["val_loss"] = float(trainer.callback_metrics["val/loss"])
    truth = adata.uns.get("ground_truth")
    figures = {"network": out / "network_heatmap.png", "diagram": out / "model_diagram.png"}
    if truth is not None:
        scored = _edges_among_truth_genes(weights, datamodule.genes, truth)
        scores = score_network(scored, truth)
        metrics.update(scores)
        print(f"\nGRN scores ({metrics['dataset']}, {normaliser} attention, {method} read-out)\n{format_scores(scores)}")
        plot_pr_curve({f"{normaliser} attention": scored}, truth, out / "pr_curve.png", title=metrics["dataset"])
        figures["pr_curve"] = out / "pr_curve.png"
    write_json(metrics, out / "metrics.json")
    plot_network_heatmap(edges, datamodule.genes, figures["network"], truth, title=f"{metrics['dataset']}: {normaliser}")
    module.model.diagram.draw(figures["diagram"])
    module.model.diagram.draw(out / "model_diagram.svg")
    for logger in loggers:
        _log_results(logger, metrics, figures)
    log.info("outputs in %s", out)
    return metrics


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


def _resume_checkpoint(cfg, out: Path):
    last = out / "checkpoints" / "last.ckpt"
    if cfg.resume and last.exists():
        log.info("resuming from %s", last)
        return str(last)
    return None


def _loggers(cfg, out: Path, resuming: bool) -> list:
    """Instantiate the configured loggers; a resumed run continues its own W&B run, not a new one."""
    id_file = out / "wandb_run_id.txt"
    loggers = []
    for options in (cfg.get("logger") or {}).values():
        is_wandb = options.get("_target_", "").endswith("WandbLogger")
        if is_wandb and resuming and id_file.exists():
            logger = instantiate(options, id=id_file.read_text().strip(), resume="allow")
        else:
            logger = instantiate(options)
        if is_wandb and rank_zero_only.rank == 0:
            atomic_write(id_file, lambda tmp, run_id=logger.experiment.id: Path(tmp).write_text(run_id))
        loggers.append(logger)
    return loggers


def _log_results(logger, metrics: dict, figures: dict) -> None:
    numbers = {f"grn/{key}": value for key, value in metrics.items() if isinstance(value, (int, float))}
    logger.log_metrics(numbers)
    if hasattr(logger, "log_image"):
        for key, path in figures.items():
            logger.log_image(key=f"grn/{key}", images=[str(path)])
    if hasattr(logger, "experiment") and hasattr(logger.experiment, "summary"):
        logger.experiment.summary.update(numbers)
