"""The GRN transformer, assembled from neural circuit diagrams.

Tokens are genes of one cell. Each token embeds its gene identity (a lookup over the gene
vocabulary g) plus its value channels c = [value * (1 - hidden), hidden]; pre-LayerNorm transformer
blocks mix the genes; a linear read-out predicts each gene's expression. The whole network is one
diagram broadcast over cells b; the torch module is the diagram lowered, never written by hand.

Optionally (`gene_coupling`), a learned gene x gene matrix adds each visible gene's value, weighted per ordered
gene pair, to every prediction: an explicit adjacency beside the attention, trained with it by the same masked
objective (with a ridge penalty, GRNModule.coupling_l2), which the perturbation read-outs then see with the rest.
"""
from __future__ import annotations

import torch
from torch import nn

from ncd_layers import (NORMALISERS, Axis, Diagram, LayerNorm, Linear, Lookup, TransformerAxes, add, lower,
                        transformer_block)


def grn_transformer(n_genes: int, width: int = 64, heads: int = 4, depth: int = 2, mlp_ratio: int = 2,
                    normaliser: str = "l2", dropout: float = 0.0) -> Diagram:
    """(b, x, g) gene ids and (b, x, c) value channels -> (b, x) predicted expression."""
    if normaliser not in NORMALISERS:
        raise ValueError(f"normaliser must be one of {tuple(NORMALISERS)}, got {normaliser!r}")
    if width % heads:
        raise ValueError(f"width {width} must be divisible by heads {heads}")
    ax = TransformerAxes.make(width, heads, mlp_ratio)
    x, m = ax.tokens, ax.width
    genes, channels = Axis("g", n_genes, index=True), Axis("c", 2)
    embed = ((Lookup("gene_embedding", vocabulary=genes, out_axes=(m,))
              @ Linear("value_embedding", (channels,), (m,))).over(x) >> add((x, m))).group("embedding")
    # One label for every block: the drawing shows them as one "block × depth" and expands the first.
    blocks = [transformer_block(ax, normaliser, f"block{i + 1}_", dropout).group("block") for i in range(depth)]
    readout = (LayerNorm("final_norm", axis=m) >> Linear("readout", (m,), ())).over(x).group("head")
    diagram = embed
    for block in blocks:
        diagram = diagram >> block
    return (diagram >> readout).over(Axis("b"))


class GeneCoupling(nn.Module):
    """prediction_i += sum_j weight[j, i] * visible value_j over the genes j of the same cell (tokens by gene id;
    padding and hidden genes add nothing). Starts at zero, so that the attention alone predicts at first."""

    def __init__(self, n_genes: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_genes, n_genes))

    def forward(self, gene_ids, visible_values, key_padding_mask=None):
        if key_padding_mask is not None:
            visible_values = visible_values * key_padding_mask
        # added, not assigned: a padding token may carry the id of a real gene of the cell (its value is 0 here)
        by_gene = visible_values.new_zeros(gene_ids.shape[0], self.weight.shape[0]).scatter_add_(1, gene_ids, visible_values)
        weight = self.weight.to(by_gene.dtype)
        # a gene's own weight never learns (it is hidden whenever it is scored), but stays out of its prediction:
        # its term is subtracted per cell rather than the diagonal zeroed in a copy of the n_genes^2 matrix
        predicted = by_gene @ weight - by_gene * torch.diagonal(weight)
        return predicted.gather(1, gene_ids)


class GRNTransformer(nn.Module):
    def __init__(self, n_genes, width=64, heads=4, depth=2, mlp_ratio=2, normaliser="l2", dropout=0.0,
                 gene_coupling=False):
        super().__init__()
        self.normaliser = normaliser  # the read-out takes it from here, not from the config again
        self.diagram = grn_transformer(n_genes, width, heads, depth, mlp_ratio, normaliser, dropout)
        self.net = lower(self.diagram)
        self.coupling = GeneCoupling(n_genes) if gene_coupling else None

    def forward(self, gene_ids, values, hidden, key_padding_mask=None, coupling_only: bool = False):
        """gene_ids (B, N) long, values (B, N) float, hidden (B, N) bool -> (B, N) predictions.

        hidden marks genes whose value is masked out of the input; key_padding_mask True = real gene.
        coupling_only=True predicts by the gene coupling alone, without the transformer
        (GRNModule.coupling_first_steps).
        """
        hidden = hidden.to(values.dtype)
        visible = values * (1 - hidden)
        if coupling_only:
            return self.coupling(gene_ids, visible, key_padding_mask)
        predicted = self.net(gene_ids, torch.stack([visible, hidden], dim=-1), key_padding_mask=key_padding_mask)
        if self.coupling is not None:
            predicted = predicted + self.coupling(gene_ids, visible, key_padding_mask)
        return predicted

    def attention_layers(self) -> list[nn.Module]:
        """Fused attention kernels in depth order, each called as module(q, k, v, key_padding_mask)."""
        return self.net.fused_attention()
