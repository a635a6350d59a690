"""Attention read-out vs an explicit per-cell float64 computation on a tiny model."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from grn.model.transformer import GRNTransformer
from grn.readout.attention import attention_maps, network_from_maps
from grn.readout.edges import edges_from_matrix

N_GENES, CELLS = 5, 7


def _cells():
    generator = torch.Generator().manual_seed(3)
    gene_ids = torch.stack([torch.randperm(N_GENES, generator=generator) for _ in range(CELLS)])
    return gene_ids, torch.randn(CELLS, N_GENES, generator=generator)


def _explicit_maps(model, gene_ids, values, normaliser):
    """(layers, heads, target gene, regulator gene): each cell's weights in float64, then their mean."""
    captured = []
    hooks = [layer.register_forward_hook(lambda m, inputs, out: captured.append((inputs[0], inputs[1])))
             for layer in model.attention_layers()]
    total = None
    for cell in range(CELLS):
        captured.clear()
        model(gene_ids[cell:cell + 1], values[cell:cell + 1], torch.zeros(1, N_GENES, dtype=torch.bool))
        per_layer = []
        for q, k in captured:
            q, k = q[0].double(), k[0].double()  # (heads, tokens, head dim)
            scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
            if normaliser == "l2":
                weights = scores / torch.sqrt(scores.square().sum(-1, keepdim=True) + 1e-6)
            else:
                weights = torch.softmax(scores, dim=-1)
            order = gene_ids[cell]  # token position -> gene id
            in_genes = torch.zeros_like(weights)
            in_genes[:, order[:, None], order[None, :]] = weights
            per_layer.append(in_genes)
        cell_maps = torch.stack(per_layer)
        total = cell_maps if total is None else total + cell_maps
    for hook in hooks:
        hook.remove()
    return total / CELLS


@pytest.mark.parametrize("normaliser", ["l2", "softmax"])
def test_cell_mean_maps_equal_explicit_per_cell_mean(normaliser):
    """For spherical attention the aggregate is the one-matmul identity, never a per-cell map."""
    torch.manual_seed(0)
    model = GRNTransformer(N_GENES, width=8, heads=2, depth=2, normaliser=normaliser).eval()
    gene_ids, values = _cells()
    hidden = torch.zeros_like(values, dtype=torch.bool)
    loader = [(gene_ids[:4], values[:4], hidden[:4]), (gene_ids[4:], values[4:], hidden[4:])]
    maps = attention_maps(model, loader, N_GENES)
    expected = _explicit_maps(model, gene_ids, values, normaliser)
    assert maps.shape == (2, 2, N_GENES, N_GENES)
    torch.testing.assert_close(maps.double(), expected, atol=1e-5, rtol=1e-4)
    if normaliser == "l2":
        assert (expected < 0).any()  # spherical weights carry signs


def _edges_as_matrix(edges, genes):
    position = {gene: i for i, gene in enumerate(genes)}
    matrix = np.zeros((len(genes), len(genes)))
    for regulator, target, weight in edges.itertuples(index=False):
        matrix[position[target], position[regulator]] = weight
    return matrix


def test_modes_layers_and_heads_match_numpy():
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((2, 3, 4, 4))
    genes = ["a", "b", "c", "d"]
    off = ~np.eye(4, dtype=bool)

    def row_ranks(m):  # rank of |w| within each target row, scaled to [0, 1]
        return np.argsort(np.argsort(np.abs(m), axis=-1), axis=-1) / 3

    cases = {
        ("raw", None, None): maps.mean((0, 1)),
        ("abs", None, None): np.abs(maps).mean((0, 1)),
        ("rank", None, None): row_ranks(maps).mean((0, 1)) * np.sign(maps.mean((0, 1))),
        ("raw", 1, None): maps[1].mean(0),
        ("raw", None, 2): maps[:, 2].mean(0),
        ("abs", 0, 1): np.abs(maps[0, 1]),
        ("rank", 1, 0): row_ranks(maps[1, 0]) * np.sign(maps[1, 0]),
    }
    for (mode, layer, head), expected in cases.items():
        edges = network_from_maps(torch.tensor(maps, dtype=torch.float32), genes, mode, layer, head)
        assert len(edges) == 12 and (edges["Gene1"] != edges["Gene2"]).all()
        np.testing.assert_allclose(_edges_as_matrix(edges, genes)[off], expected[off], rtol=1e-5, atol=1e-6,
                                   err_msg=f"{mode} layer={layer} head={head}")


def test_edges_are_ranked_regulator_to_target():
    weights = np.array([[0.0, -0.9, 0.1], [0.2, 0.0, 0.0], [0.5, 0.0, 0.0]])  # (target, regulator)
    edges = edges_from_matrix(weights, ["x", "y", "z"])
    assert list(edges.iloc[0]) == ["y", "x", -0.9]  # y regulates x
    assert list(edges.iloc[1]) == ["x", "z", 0.5]
    assert (edges["EdgeWeight"].abs().diff().dropna() <= 0).all()


@pytest.mark.parametrize("options, message", [
    ({"mode": "median"}, "unknown read-out mode"),
    ({"layer": 2}, "layer 2 out of range"),
    ({"head": -4}, "head -4 out of range"),
])
def test_bad_read_out_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        network_from_maps(torch.zeros(2, 3, 4, 4), ["a", "b", "c", "d"], **options)
    with pytest.raises(ValueError, match="maps must be"):
        network_from_maps(torch.zeros(3, 4, 4), ["a", "b", "c", "d"])


def test_max_edges_keeps_the_head_of_the_full_ranking():
    weights = np.random.default_rng(0).normal(size=(30, 30))
    genes = [f"g{i}" for i in range(30)]
    full = edges_from_matrix(weights, genes)
    top = edges_from_matrix(weights, genes, max_edges=50)
    pd.testing.assert_frame_equal(top, full.head(50))
    pd.testing.assert_frame_equal(edges_from_matrix(weights, genes, max_edges=10_000), full)
    with pytest.raises(ValueError, match="max_edges must be at least 1"):
        edges_from_matrix(weights, genes, max_edges=0)


def test_max_edges_breaks_ties_and_places_nan_as_the_full_ranking_does():
    weights = np.zeros((6, 6))
    weights[2, 1], weights[4, 0], weights[0, 5] = 3.0, np.nan, -1.0  # most edges tie at zero
    genes = list("abcdef")
    full = edges_from_matrix(weights, genes)
    for keep in (1, 2, 5, 29):
        pd.testing.assert_frame_equal(edges_from_matrix(weights, genes, max_edges=keep), full.head(keep))


def test_edges_out_of_listed_regulators_only():
    weights = np.arange(16, dtype=float).reshape(4, 4) - 7.5  # (target, regulator), all distinct magnitudes
    genes = ["a", "b", "c", "d"]
    edges = edges_from_matrix(weights, genes, regulators=[1, 3])
    assert set(edges["Gene1"]) == {"b", "d"} and len(edges) == 2 * 3  # no self-loop
    expected = sorted(((genes[j], genes[i], weights[i, j]) for i in range(4) for j in (1, 3) if i != j),
                      key=lambda edge: -abs(edge[2]))
    assert list(edges.itertuples(index=False, name=None)) == expected
    top = edges_from_matrix(weights, genes, max_edges=2, regulators=[1, 3])
    assert list(top.itertuples(index=False, name=None)) == expected[:2]
