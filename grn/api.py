"""The Python entry points for an AnnData user: `infer` a network, `load_model` a trained one, `perturb` cells.

`infer` is train.py's run (grn.run.run), composed from the same Hydra configs (configs/train.yaml with the
`data=h5ad` preprocessing), on the AnnData in memory. Which values it reads, for infer and perturb alike:
`adata.layers[layer]` when a layer is named; otherwise `adata.raw` when the AnnData has one (scanpy keeps the
unscaled values there, while `.X` is often scaled and centred); otherwise `adata.X`. Values that are all
whole numbers are raw counts and are normalised to 10,000 per cell and log1p-transformed; other values are
taken as already log-normalised and used as they are. Negative values (scaled data) are an error.
"""
import logging
from contextlib import contextmanager
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from grn.data.loaders import check_values
from grn.data.preprocess import preprocess
from grn.data.regulators import tf_list
from grn.errors import InputError
from grn.model.module import GRNModule
from grn.model.simulate import predicted_shift
from grn.run import run

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ATTENTIONS = sorted(path.stem for path in (CONFIGS / "model" / "attention").glob("*.yaml"))
DEVICES = ("auto", "cpu", "gpu", "cuda")
# On the CPU the read-out averages over this many random cells: the knockout of pbmc68k's 33 TFs on its 765
# genes costs seconds a cell on two cores (results/knockout_budget.md). A GPU reads every cell.
CPU_READOUT_CELLS = 128


def infer(adata: ad.AnnData, *, tf_names=None, layer: str | None = None, attention: str = "spherical",
          readout: str | None = None, prior: pd.DataFrame | None = None, n_seeds: int = 1, device: str = "auto",
          key_added: str = "grn", overrides=(), out=None) -> pd.DataFrame:
    """Train the GRN transformer on the cells of `adata` and read its network out, as train.py does.

    tf_names: the regulators, a list of gene names, a file of one name a line, or "human" / "mouse" (the
        shipped TF lists); only TFs present in the data regulate, and preprocessing keeps them. None: every gene.
    layer: read `adata.layers[layer]` (see the module's note for the default and the normalisation chosen).
    attention: "spherical" (signed, FlashSign) or "softmax". readout: "auto" (the knockout when its cost fits
        grn.readout.network.AUTO_KNOCKOUT_TOKENS, else the attention map), "knockout", "attention", "raise",
        "jacobian" or "coupling" (the gene coupling's weights, with model.gene_coupling=true); None: the config's
        (auto, or what an experiment in `overrides` sets, e.g. "experiment=grn_coupling"). n_seeds: models trained
        and averaged. device: "auto" (a GPU when CUDA has one), "cpu", "gpu".
    prior: candidate edges, a DataFrame with `source` and `target` columns (e.g. a motif-based base GRN, as
        CellOracle takes): only these edges are returned, with their weights as read out; without tf_names its
        sources are the regulators.
    overrides: Hydra override strings on configs/train.yaml, e.g. ["trainer.max_epochs=10", "model.width=32"].
    out: a folder for train.py's outputs (network.csv, metrics.json, checkpoints/ for grn.load_model);
        without it no file is written.

    Settings chosen for an AnnData, each overridable: no logger, no plots, no cell QC (the cells are used as
    given; genes seen in fewer than 3 cells are left out), the 2,000 most variable genes plus the TFs, batches
    built in this process (data.loader.num_workers=0: the cells are in memory, and worker processes would need
    a `__main__` guard on macOS and Windows), and on the CPU a read-out over CPU_READOUT_CELLS random cells.

    Returns one row per edge, strongest first: source, target, weight (signed: + activation, - repression),
    sign (+1/-1) and rank (1 = strongest); edges read as exactly 0 are left out. The table, the resolved
    settings, the read-out method, the genes and the regulators go to `adata.uns[key_added]`."""
    if attention not in ATTENTIONS:
        raise InputError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
    if device not in DEVICES:
        raise InputError(f"device must be one of {DEVICES}, got {device!r}")
    on_gpu = device in ("gpu", "cuda") or (device == "auto" and torch.cuda.is_available())
    expression, source = expression_of(adata, layer)
    counts = _whole_numbers(expression.X)
    arguments = {"model/attention": attention, "n_seeds": n_seeds, "trainer": "gpu" if on_gpu else "cpu"}
    if readout is not None:
        arguments["readout.method"] = readout
    defaults = {"data": "h5ad", "logger": "none", "plots": "false", "data.preprocess.min_genes": "null",
                "data.loader.num_workers": "0", "++trainer.enable_model_summary": "false"}
    if not counts:
        defaults |= {"data.preprocess.normalize_total": "null", "data.preprocess.log1p": "false"}
    if not on_gpu:
        defaults["readout.max_cells"] = str(CPU_READOUT_CELLS)
    if out is None:  # no checkpoint callbacks, and no default one from Lightning either
        defaults |= {"callbacks": "none", "++trainer.enable_checkpointing": "false"}
    candidates = None if prior is None else _prior_pairs(prior)
    regulators = tf_names
    if regulators is None and candidates is not None:
        regulators = sorted(set(candidates["source"]))  # the prior's sources regulate
    cfg = _compose(arguments, defaults, list(overrides), sets_regulators=regulators is not None)
    with open_dict(cfg):
        cfg.paths.root_dir = str(Path.cwd())
        cfg.paths.output_dir = None if out is None else str(Path(out).resolve())
        cfg.data.source = {"anndata": source, "counts": counts}  # what was read, for the record
        if regulators is not None:
            cfg.readout.regulators = str(regulators) if isinstance(regulators, (str, Path)) else list(regulators)
    tfs = tf_list(cfg.readout.regulators) if cfg.readout.get("regulators") else ()
    data = preprocess(expression, **cfg.data.preprocess, keep_genes=tfs)
    if candidates is not None:
        candidates = _pairs_among(candidates, list(data.var_names))
    with _quiet_lightning():
        network = run(cfg, data=data)
    max_edges = cfg.readout.get("max_edges")
    if candidates is None:
        edges = network.edges(max_edges)
    else:
        index = {gene: i for i, gene in enumerate(network.genes)}
        edges = pd.DataFrame({"Gene1": candidates["source"], "Gene2": candidates["target"],
                              "EdgeWeight": network.weights[candidates["target"].map(index), candidates["source"].map(index)]})
    table = ranked_edges(edges, max_edges)
    adata.uns[key_added] = {"edges": table, "settings": OmegaConf.to_container(cfg, resolve=True),
                            "method": network.metrics["readout"], "genes": network.genes,
                            "regulators": network.regulators}
    return table


def ranked_edges(edges: pd.DataFrame, max_edges: int | None = None) -> pd.DataFrame:
    """BEELINE ranked edges (Gene1 -> Gene2, EdgeWeight) as source, target, weight, sign, rank: strongest
    first, zeros left out, the max_edges strongest when given."""
    edges = edges[edges["EdgeWeight"] != 0]
    edges = edges.iloc[np.argsort(-np.abs(edges["EdgeWeight"].to_numpy()), kind="stable")][:max_edges]
    weight = edges["EdgeWeight"].to_numpy(dtype=float)
    return pd.DataFrame({"source": edges["Gene1"].to_numpy(), "target": edges["Gene2"].to_numpy(), "weight": weight,
                         "sign": np.where(weight < 0, -1, 1), "rank": np.arange(1, len(edges) + 1)})


def expression_of(adata: ad.AnnData, layer: str | None = None) -> tuple[ad.AnnData, str]:
    """The values infer and perturb read (see the module's note) as a checked cells x genes AnnData, CSR when
    sparse, and where they came from."""
    if layer is not None:
        if layer not in adata.layers:
            raise InputError(f"no layer {layer!r}; layers are {sorted(adata.layers)}")
        X, genes, source = adata.layers[layer], adata.var_names, f"layers[{layer!r}]"
    elif adata.raw is not None:
        X, genes, source = adata.raw.X, adata.raw.var_names, ".raw"
    else:
        X, genes, source = adata.X, adata.var_names, ".X"
    if X is None:
        raise InputError(f"the AnnData has no {source} matrix; name a layer (layers are {sorted(adata.layers)})")
    X = sp.csr_matrix(X, dtype=np.float32) if sp.issparse(X) else np.asarray(X, dtype=np.float32)
    expression = ad.AnnData(X=X, obs=pd.DataFrame(index=adata.obs_names.astype(str)),
                            var=pd.DataFrame(index=genes.astype(str)))
    values = X.data if sp.issparse(X) else X
    if (values < 0).any():
        raise InputError(f"{source} holds negative values (scaled or centred data); name a layer of counts or "
                         "log-normalised values with layer=")
    check_values(expression, source, counts=True)
    return expression, source


class TrainedModel:
    """A trained model and what feeding it new cells needs (grn.load_model): `module` (the GRNModule),
    `genes` (its token order), `regulators` (those its network was read for; None: every gene)."""

    def __init__(self, module: GRNModule):
        self.module = module
        self.trained_on = module.trained_on
        self.genes = list(self.trained_on.genes)
        self.regulators = self.trained_on.regulators

    def expression(self, adata: ad.AnnData, layer: str | None = None) -> np.ndarray:
        """(cells, model genes) expression of `adata`'s cells in the model's gene order, preprocessed as its
        training data was (the model's expression units). Missing genes: an InputError naming them."""
        expression, source = expression_of(adata, layer)
        trained = self.trained_on
        if trained.normalize_total is not None and not _whole_numbers(expression.X):
            raise InputError(f"the model was trained on raw counts, but {source} is not whole numbers; "
                             "name a layer of counts with layer=")
        missing = [gene for gene in self.genes if gene not in expression.var_names]
        if missing:
            raise InputError(f"{len(missing)} of the model's {len(self.genes)} genes are not in {source}: "
                             f"{missing[:10]}{' ...' if len(missing) > 10 else ''}")
        X = expression.X.toarray() if sp.issparse(expression.X) else expression.X
        if trained.normalize_total is not None:
            totals = X.sum(axis=1, keepdims=True)
            X = X * (trained.normalize_total / np.where(totals > 0, totals, 1.0))
        if trained.log1p:
            X = np.log1p(X)
        return X[:, expression.var_names.get_indexer(self.genes)].astype(np.float32)


def load_model(checkpoint) -> TrainedModel:
    """A model saved by train.py or grn.infer(out=...): a .ckpt file, or a run folder holding one last.ckpt."""
    path = Path(checkpoint)
    if path.is_dir():
        found = sorted(path.glob("**/last.ckpt"))
        if len(found) != 1:
            raise InputError(f"{path}: expected one last.ckpt in the folder, found {[str(f) for f in found]}; "
                             "name the checkpoint file")
        path = found[0]
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    module = GRNModule.load_from_checkpoint(path, map_location="cpu")
    if module.trained_on is None:
        raise InputError(f"{path} carries no gene names or standardisation (it predates them); retrain to reuse it")
    return TrainedModel(module)


def perturb(model, adata: ad.AnnData, perturbation: dict, *, layer: str | None = None,
            layer_added: str = "perturb_shift", n_rounds: int = 1, seed: int = 0, batch_size: int = 64) -> pd.DataFrame:
    """The per-cell expression shift of every gene the model predicts when the genes of `perturbation` are set
    to new levels in every cell of `adata`, several genes at once, e.g. {"GATA1": 0.0, "SPI1": 2.0}.

    model: a TrainedModel (load_model) or a checkpoint path. Levels and shifts are in the model's expression
    units, those of its training data after preprocessing (log1p of counts per 10,000 when it was trained on
    counts); a level of 0 is a knockout. Each gene is predicted with about the training fraction of the genes
    hidden (grn.model.simulate.predicted_shift), averaged over n_rounds random masks; a perturbed gene's shift
    is its own change.

    Returns a (cells, model genes) DataFrame; also stored as `adata.layers[layer_added]` over adata.var_names
    (genes the model lacks: 0), with the perturbation and the model's genes in `adata.uns[layer_added]`."""
    model = model if isinstance(model, TrainedModel) else load_model(model)
    unknown = [gene for gene in perturbation if gene not in model.genes]
    if unknown:
        raise InputError(f"perturbed genes not among the model's {len(model.genes)} genes: {unknown}")
    negative = {gene: level for gene, level in perturbation.items() if level < 0}
    if negative:
        raise InputError(f"expression levels are not negative: {negative}")
    trained = model.trained_on
    standardised = (model.expression(adata, layer) - trained.mean) / trained.std
    ids = {gene: model.genes.index(gene) for gene in perturbation}
    levels = {ids[gene]: (level - trained.mean[ids[gene]]) / trained.std[ids[gene]] for gene, level in perturbation.items()}
    shift = predicted_shift(model.module.model, torch.from_numpy(standardised), levels, trained.mask_fraction,
                            n_rounds, seed, batch_size).numpy() * trained.std  # standardised -> expression units
    table = pd.DataFrame(shift, index=adata.obs_names, columns=model.genes)
    layer_values = np.zeros(adata.shape, dtype=np.float32)
    shared = adata.var_names.intersection(model.genes, sort=False)
    layer_values[:, adata.var_names.get_indexer(shared)] = table[shared].to_numpy()
    adata.layers[layer_added] = layer_values
    adata.uns[layer_added] = {"perturbation": {gene: float(level) for gene, level in perturbation.items()},
                              "genes": model.genes}
    return table


def _compose(arguments: dict, defaults: dict, overrides: list, sets_regulators: bool):
    """configs/train.yaml composed with infer's arguments, its defaults (each dropped where an override sets
    the same key) and the user's overrides. An override of what an argument sets is an error."""
    key = lambda override: override.split("=", 1)[0].lstrip("+~")
    user = {key(override) for override in overrides}
    clashes = sorted(user & ({key(name) for name in arguments} | ({"readout.regulators"} if sets_regulators else set())))
    if clashes:
        raise InputError(f"overrides set {clashes}, which infer's arguments set (attention, readout, n_seeds, "
                         "device, tf_names, prior); use the arguments")
    chosen = [f"{name}={value}" for name, value in {**defaults, **arguments}.items() if key(name) not in user]
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose("train", overrides=chosen + overrides)


def _prior_pairs(prior) -> pd.DataFrame:
    if not isinstance(prior, pd.DataFrame) or not {"source", "target"} <= set(prior.columns):
        raise InputError("prior must be a DataFrame with `source` and `target` columns (regulator -> target)")
    pairs = prior[["source", "target"]].astype(str).drop_duplicates()
    return pairs[pairs["source"] != pairs["target"]].reset_index(drop=True)


def _pairs_among(pairs: pd.DataFrame, genes: list) -> pd.DataFrame:
    """The prior's edges between genes of the preprocessed data; an error when none is left."""
    kept = pairs[pairs["source"].isin(genes) & pairs["target"].isin(genes)].reset_index(drop=True)
    if kept.empty:
        raise InputError(f"no edge of the prior ({len(pairs)} edges) joins two of the data's {len(genes)} genes "
                         "after preprocessing")
    return kept


def _whole_numbers(X) -> bool:
    values = X.data if sp.issparse(X) else X
    return bool(np.all(values == np.round(values)))


@contextmanager
def _quiet_lightning():
    """Lightning's progress bar without its notes (devices found, where the fit stopped)."""
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
