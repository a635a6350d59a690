"""Reading the gene regulatory network out of a trained model's attention.

Direction: a target gene's query attending to a regulator gene's key is the edge regulator -> target,
so the attention weight at (query i, key j) scores the edge j -> i. Spherical weights keep their sign
(activation or repression); SoftMax weights are all positive.
"""
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from grn.readout.edges import edges_from_matrix
from ncd_layers import NORMALISERS


@torch.no_grad()
def attention_maps(model, loader, n_genes: int, reduce=None) -> torch.Tensor:
    """Mean attention weight over cells, per layer and head: (layers, heads, target i, regulator j).

    Every cell is read with all of its genes visible. Token positions are scattered to gene ids, so
    cells may carry different gene sets; a pair is averaged over the cells that carry both genes.
    With cells sharded over processes, `reduce` sums the partial sums and counts of all of them
    (an all-reduce), so the map does not depend on the number of processes.
    """
    was_training = model.training
    model.eval()  # dropout off: the read-out is deterministic
    captured = {}
    hooks = [layer.register_forward_hook(_capture(captured, index))
             for index, layer in enumerate(model.attention_layers())]
    device = next(model.parameters()).device
    cell_summed_map = NORMALISERS[model.normaliser].cell_summed_map
    sums, pair_counts = None, torch.zeros(n_genes, n_genes, dtype=torch.float64, device=device)
    try:
        for batch in tqdm(loader, desc="reading attention", leave=False):
            gene_ids, values, hidden = (tensor.to(device) for tensor in batch[:3])
            key_padding_mask = batch[3].to(device) if len(batch) > 3 else torch.ones_like(hidden)
            model(gene_ids, values, torch.zeros_like(hidden), key_padding_mask)
            present = torch.zeros(gene_ids.shape[0], n_genes, device=device)
            present = present.scatter_add_(1, gene_ids, key_padding_mask.float()) > 0
            pair_counts += present.double().T @ present.double()
            layer_sums = torch.stack([
                cell_summed_map(*(_to_gene_space(x, gene_ids, key_padding_mask, n_genes) for x in (q, k)),
                                present).double()
                for q, k in (captured[index] for index in range(len(hooks)))])
            sums = layer_sums if sums is None else sums + layer_sums
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    if reduce is not None:
        sums, pair_counts = reduce(sums), reduce(pair_counts)
    return (sums / pair_counts.clamp(min=1)).float().cpu()


def network_from_maps(maps: torch.Tensor, genes, mode: str = "raw", layer: int | None = None,
                      head: int | None = None) -> pd.DataFrame:
    """Aggregate (layers, heads, target, regulator) maps into ranked edges regulator -> target
    (see `aggregate_maps` for the modes and the layer/head selection)."""
    if maps.dim() != 4 or maps.shape[-1] != maps.shape[-2] or maps.shape[-1] != len(genes):
        raise ValueError(f"maps must be (layers, heads, genes, genes) with {len(genes)} genes, got {tuple(maps.shape)}")
    return edges_from_matrix(aggregate_maps(maps, mode, layer, head), genes)


ATTENTION_MODES = ("raw", "abs", "rank")


def aggregate_maps(maps: torch.Tensor, mode: str = "raw", layer: int | None = None,
                   head: int | None = None) -> torch.Tensor:
    """(layers, heads, target, regulator) maps -> one (target, regulator) weight matrix.

    raw: the signed mean; abs: the mean of magnitudes; rank: each layer-head map rank-normalised per
    target row (as scGPT does) before averaging, carrying the sign of the raw mean.
    `layer` and/or `head` restrict the aggregate to that layer's or head's maps."""
    for name, index, size in (("layer", layer, maps.shape[0]), ("head", head, maps.shape[1])):
        if index is not None and not -size <= index < size:
            raise ValueError(f"{name} {index} out of range: the maps have {size}")
    maps = maps[slice(None) if layer is None else [layer]][:, slice(None) if head is None else [head]]
    if mode == "raw":
        return maps.mean(dim=(0, 1))
    if mode == "abs":
        return maps.abs().mean(dim=(0, 1))
    if mode == "rank":
        ranks = maps.abs().argsort(dim=-1).argsort(dim=-1).float() / max(1, maps.shape[-1] - 1)
        return ranks.mean(dim=(0, 1)) * torch.sign(maps.mean(dim=(0, 1)))
    raise ValueError(f"unknown read-out mode {mode!r}; expected one of {ATTENTION_MODES}")


def _capture(store, index):
    def hook(module, inputs, output):
        store[index] = (inputs[0].float(), inputs[1].float())
    return hook


def _to_gene_space(x, gene_ids, key_padding_mask, n_genes):
    """(B, H, N, D) by token position -> (B, H, G, D) by gene id, zero where a cell lacks the gene.
    Padding tokens add zeros, so whatever gene id they carry cannot overwrite a real token."""
    batch, heads, _, dim = x.shape
    x = x * key_padding_mask[:, None, :, None]
    index = gene_ids[:, None, :, None].expand(-1, heads, -1, dim)
    return x.new_zeros(batch, heads, n_genes, dim).scatter_add_(2, index, x)

