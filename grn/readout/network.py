"""The network a trained model implies, as a (target i, regulator j) weight matrix.

Three read-outs: the attention maps (signed for spherical attention; cell sums sharded over processes
and all-reduced); in-silico perturbation of each regulator's input (grn.readout.perturbation), which
scored higher on BEELINE's replicates 0-2 but costs a forward pass per (target, regulator) pair; or the learned
gene coupling's weights alone (model.gene_coupling), which need no pass over cells. Given a
list of regulators (a TF list), only their columns are read, and the knockout or raise hides training-like masks of
targets instead of one target at a time.
"""
import numpy as np
import torch
from omegaconf import DictConfig
from grn.data.cells import cell_loader
from grn.data.datamodule import ExpressionDataModule
from grn.errors import InputError
from grn.readout.perturbation import METHODS as PERTURBATION_METHODS
from grn.readout.perturbation import (MASKED_METHODS, REDUCTIONS, masked_perturbation_effects,
                                      perturbation_effects, regulator_normalised)
from grn.readout.attention import ATTENTION_MODES, aggregate_maps, attention_maps

# `method: auto` runs the knockout when the forward-pass tokens it spends per read-out cell (knockout_tokens)
# fit this budget, and reads the attention map otherwise. The budget is what the former rule, knockout up to
# 64 genes, accepted: 64 targets x 65 passes x 64 tokens, twice in abs mode. What it costs in CPU time:
# results/knockout_budget.md.
AUTO_KNOCKOUT_TOKENS = 2 * 64 * 65 * 64
COUPLING_MODES = ("raw",)  # the signed weights: on standardised genes, the raise read-out of the coupling alone


def check_readout(readout: DictConfig, n_genes: int, n_regulators: int | None = None,
                  gene_coupling: bool = False) -> None:
    """Stop before training, not after it, on a read-out setting that cannot run on n_genes genes (or on a
    model without the gene coupling, for the coupling read-out)."""
    methods = ("auto", "attention", "coupling", *PERTURBATION_METHODS)
    if readout.method not in methods:
        raise InputError(f"readout.method must be one of {methods}, got {readout.method!r}")
    if readout.method == "coupling" and not gene_coupling:
        raise InputError("readout.method=coupling reads the gene coupling's weights: set model.gene_coupling=true")
    method, mode = resolve(readout, n_genes, n_regulators)
    modes = {"attention": ATTENTION_MODES, "coupling": COUPLING_MODES}.get(method, REDUCTIONS)
    if mode not in modes:
        raise InputError(f"readout.mode must be auto or one of {modes} for the {method} read-out "
                         f"({n_genes} genes), got {mode!r}")
    for key in ("batch_size", "max_cells", "max_edges"):
        value = readout.get(key)
        whole = isinstance(value, int) and not isinstance(value, bool)
        if (value is not None or key == "batch_size") and not (whole and value >= 1):
            allowed = "a whole number >= 1" + ("" if key == "batch_size" else " or null (all)")
            raise InputError(f"readout.{key} must be {allowed}, got {value!r}")
    fraction = readout.get("mask_fraction")
    if fraction is not None and not (isinstance(fraction, float) and 0.0 < fraction < 1.0):
        raise InputError(f"readout.mask_fraction must lie in (0, 1) or be null (training's), got {fraction!r}")


def resolve(readout: DictConfig, n_genes: int, n_regulators: int | None = None) -> tuple[str, str]:
    """The read-out method and mode, with `auto` made concrete: knockout on magnitudes (signed by the mean
    effect) when its cost fits AUTO_KNOCKOUT_TOKENS, the signed raw attention map otherwise.
    n_regulators: the length of a regulator list (a TF list); None when every gene regulates."""
    method = readout.method
    if method == "auto":
        method = "knockout" if knockout_tokens(readout, n_genes, n_regulators) <= AUTO_KNOCKOUT_TOKENS else "attention"
    mode = readout.mode
    if mode == "auto":
        mode = "raw" if method in ("attention", "coupling") else "abs"
    return method, mode


def knockout_tokens(readout: DictConfig, n_genes: int, n_regulators: int | None = None) -> int:
    """Forward-pass tokens the knockout read-out spends per cell. With a regulator list
    (masked_perturbation_effects): n_masks x (1 + regulators) passes over every gene. Without: for each target,
    one pass plus one per regulator, over every gene, run twice in abs mode (once more for the signs)."""
    if n_regulators is not None:
        return readout.get("n_masks", 4) * (1 + n_regulators) * n_genes
    runs = 1 if readout.mode == "mean" else 2
    return runs * n_genes * (1 + n_genes) * n_genes


def read_network(model, datamodule: ExpressionDataModule, readout: DictConfig, seed: int,
                 shard: int = 0, shards: int = 1, reduce=None, regulators=None) -> np.ndarray:
    """Weights read on at most readout.max_cells cells drawn at random (fixed seed). The attention read-out
    splits those cells over `shards` processes and sums them with `reduce`; a perturbation read-out reads
    them all wherever it is called. `regulators` (gene ids): only these columns are read; the others are 0."""
    method, mode = resolve(readout, datamodule.n_genes, None if regulators is None else len(regulators))
    if method == "coupling":
        weights = coupling_network(model)
        return _only_columns((regulator_normalised(weights) if readout.per_regulator else weights).numpy(), regulators)
    n_cells = datamodule.adata.n_obs
    cells = np.sort(np.random.default_rng(seed).permutation(n_cells)[:readout.max_cells or n_cells])
    if method == "attention":
        cells = cells[shard::shards]
    loader = cell_loader(datamodule.adata.X[cells], datamodule.mean, datamodule.std, readout_mask_fraction(readout, datamodule),
                         datamodule.expressed_only, readout.batch_size, fixed_masks_seed=seed,
                         always_hidden=datamodule.always_hidden)
    if method == "attention":
        maps = attention_maps(model, loader, datamodule.n_genes, reduce=reduce)
        return _only_columns(aggregate_maps(maps, mode).numpy(), regulators)
    knockout = -datamodule.mean / datamodule.std  # the standardised level of zero expression
    if regulators is not None and method in MASKED_METHODS:
        return _regulator_perturbation(model, loader, datamodule, readout, seed, regulators, method, mode, knockout)
    effects = perturbation_effects(model, loader, datamodule.n_genes, method, mode,
                                   step=readout.step, knockout_values=knockout)
    if mode == "abs":  # magnitudes rank, the mean effect gives the sign
        signs = perturbation_effects(model, loader, datamodule.n_genes, method, "mean",
                                     step=readout.step, knockout_values=knockout).sign()
        effects = effects * signs
    return _only_columns((regulator_normalised(effects) if readout.per_regulator else effects).numpy(), regulators)


def coupling_network(model) -> torch.Tensor:
    """The gene coupling as a (target i, regulator j) matrix: weight[j, i] is what one standard deviation more of
    j adds to i's standardised prediction, beside whatever the attention adds. A gene's own weight is no edge."""
    weights = model.coupling.weight.detach().float().cpu().T.clone()
    weights.fill_diagonal_(0.0)
    return weights


def readout_mask_fraction(readout: DictConfig, datamodule: ExpressionDataModule) -> float:
    """The fraction of genes hidden per read-out pass: readout.mask_fraction, or training's when null. Hiding more
    than training did leaves fewer co-expressed genes to stand in for a knocked-out regulator."""
    return readout.get("mask_fraction") or datamodule.mask_fraction


def _only_columns(weights: np.ndarray, regulators) -> np.ndarray:
    """The regulators' columns kept, every other column 0 (no regulators given: all kept)."""
    if regulators is None:
        return weights
    kept = np.zeros_like(weights)
    kept[:, list(regulators)] = weights[:, list(regulators)]
    return kept


def _regulator_perturbation(model, loader, datamodule, readout, seed, regulators, method, mode,
                            knockout) -> np.ndarray:
    """The knockout or raise read-out of the listed regulators' columns (masked_perturbation_effects), zeros
    elsewhere."""
    mean, magnitude = masked_perturbation_effects(model, loader, datamodule.n_genes, regulators,
                                                  readout_mask_fraction(readout, datamodule), method, knockout,
                                                  readout.step, readout.get("n_masks", 4), seed,
                                                  always_hidden=datamodule.always_hidden)
    effects = magnitude * mean.sign() if mode == "abs" else mean  # magnitudes rank, the mean effect gives the sign
    weights = np.zeros((datamodule.n_genes, datamodule.n_genes), dtype=np.float32)
    weights[:, list(regulators)] = (regulator_normalised(effects) if readout.per_regulator else effects).numpy()
    return weights


def seed_average(weights: list) -> np.ndarray:
    """Several seeds' signed networks as one: the mean |weight|, with the seeds' majority sign (ties +).
    (The mean of the signed weights would let seeds that disagree on a sign cancel an edge's magnitude.)"""
    stack = np.asarray(weights, dtype=np.float64)
    sign = np.sign(np.sign(stack).sum(0))
    return np.abs(stack).mean(0) * np.where(sign == 0, 1.0, sign)
