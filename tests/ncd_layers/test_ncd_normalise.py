"""The normaliser registry: each cell-summed attention map against an explicit per-cell float64 loop, and
one made-up normaliser reaching the box, both lowerings, the cost and the drawing through the registry
alone (no other place decides what a normaliser means)."""
import math
import xml.etree.ElementTree as ET

import pytest
import torch

from ncd_layers import (NORMALISERS, Axis, Hardware, Normaliser, TransformerAxes, Work, attention_core, cost, draw,
                        lower, normalise)
from ncd_layers.normalise import EPS

CELLS, HEADS, GENES, DIM = 4, 2, 7, 3
HW = Hardware("napkin", matmul_flops_per_s=1e12, hbm_bytes_per_s=1e11, vector_flops_per_s=1e11,
              special_ops_per_s=1e10)


def per_cell_sum(q, k, present, normaliser):
    """Sum over cells of each cell's weights among its present genes, written out one cell at a time."""
    total = torch.zeros(HEADS, GENES, GENES, dtype=torch.float64)
    for cell in range(CELLS):
        genes = present[cell].nonzero().flatten()
        if len(genes) == 0:
            continue
        scores = q[cell][:, genes] @ k[cell][:, genes].transpose(-1, -2) / math.sqrt(DIM)
        if normaliser == "l2":
            weights = scores / torch.sqrt(scores.square().sum(-1, keepdim=True) + EPS)
        else:
            weights = scores.exp() / scores.exp().sum(-1, keepdim=True)
        total[:, genes[:, None], genes[None, :]] += weights
    return total


@pytest.mark.parametrize("normaliser", ["l2", "softmax"])
def test_cell_summed_map_equals_the_per_cell_sum(normaliser):
    generator = torch.Generator().manual_seed(0)
    present = torch.rand(CELLS, GENES, generator=generator) < 0.7
    present[1] = False  # a cell with no gene adds nothing
    present[2, :2] = True
    # Absent genes carry zeros, as the read-out scatters them.
    q, k = (torch.randn(CELLS, HEADS, GENES, DIM, generator=generator, dtype=torch.float64)
            * present[:, None, :, None] for _ in range(2))
    got = NORMALISERS[normaliser].cell_summed_map(q, k, present)
    assert got.shape == (HEADS, GENES, GENES)
    torch.testing.assert_close(got, per_cell_sum(q, k, present, normaliser), rtol=1e-10, atol=1e-12)


def test_unknown_names_are_refused_with_the_registry_names():
    with pytest.raises(ValueError, match=r"unknown normaliser 'cosine'; allowed: \['l2', 'softmax'\]"):
        normalise(Axis("y"), "cosine")
    assert list(NORMALISERS) == ["l2", "softmax"]


def test_a_new_normaliser_needs_only_a_registry_entry(monkeypatch, tmp_path):
    """Sign attention (weights = sign of the scores) registered once reaches every use."""
    calls = []

    def fused_sign(q, k, v, key_padding_mask, eps):
        calls.append(eps)
        return torch.sign(q @ k.transpose(-1, -2)) @ v

    monkeypatch.setitem(NORMALISERS, "sign", Normaliser(
        "sign", "Sign", weights=lambda s, keep, eps: torch.sign(s), attention=fused_sign,
        cell_summed_map=None, work=lambda n, rows: Work(vector=n)))
    y = Axis("y")
    box = normalise(y, "sign", eps=0.5)
    assert box.name == "Sign"
    s = torch.randn(3, 5)
    torch.testing.assert_close(lower(box.over(Axis("x")))(s), torch.sign(s))

    core = attention_core(TransformerAxes.make(8, 2), "sign").over(Axis("b"))
    q, k, v = (torch.randn(2, 5, 2, 4) for _ in range(3))  # (b, x, h, k)
    fused, unfused = lower(core, fuse=True), lower(core, fuse=False)
    torch.testing.assert_close(fused(q, k, v), unfused(q, k, v))
    assert len(calls) == 1 and len(fused.graph.nodes) == 1

    sizes = {"b": 2, "x": 5, "y": 5}
    assert cost(core, sizes, HW).unfused.work.vector == (
        2 * 2 * 5 * 5          # the scores' 1/sqrt(D) scale
        + 2 * 2 * 5 * 5)       # the registered work: one vector op per score
    texts = [t.text for t in ET.parse(draw(core, tmp_path / "sign.svg")).iter("{http://www.w3.org/2000/svg}text")]
    assert any(text and text.startswith("Sign") for text in texts)

