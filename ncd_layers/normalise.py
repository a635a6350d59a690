"""Normalisation over an axis: SoftMax or L2 (spherical) over keys, and layer norm.

NORMALISERS is the one place that says what each attention normaliser means: its unfused op, its
fused attention kernel, its cell-summed attention map, its cost and its drawn label. The Normalise
box, the fusion pass, the drawing and any read-out of attention maps all look it up by name.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

import kernels
from ncd_layers.axes import Axis, elements
from ncd_layers.boxes import Box, Work, check_parameter_name, need_fixed

EPS = 1e-6  # L2's guard under the square root, shared by the box, the kernel and the attention map


def align_key_mask(mask, like):
    """A (B, Y) key mask viewed against a (B, ..., Y) tensor: first axis and normalised axis."""
    if mask.shape != (like.shape[0], like.shape[-1]):
        raise ValueError(f"key_padding_mask of shape {tuple(mask.shape)} must be (first axis, normalised "
                         f"axis) = {(like.shape[0], like.shape[-1])}")
    return mask.reshape(mask.shape[0], *([1] * (like.ndim - 2)), mask.shape[1])


def _l2_weights(s, keep, eps):
    if keep is not None:
        s = s.masked_fill(~keep, 0.0)
    # One reduction (in at least fp32) and one scaling pass over the scores.
    norm = torch.linalg.vector_norm(s, dim=-1, keepdim=True, dtype=torch.promote_types(s.dtype, torch.float32))
    return s * torch.rsqrt(norm.square() + eps).to(s.dtype)


def _softmax_weights(s, keep, eps):
    if keep is None:
        return s.softmax(-1)
    # A finite fill keeps rows with no real key finite (also in backward); they are zeroed after.
    p = s.masked_fill(~keep, torch.finfo(s.dtype).min).softmax(-1)
    return p * keep.any(-1, keepdim=True)


def _l2_attention(q, k, v, key_padding_mask, eps):
    return kernels.flashsign(q, k, v, key_padding_mask, eps=eps)


def _softmax_attention(q, k, v, key_padding_mask, eps):
    if key_padding_mask is None:
        return F.scaled_dot_product_attention(q, k, v)
    has_key = key_padding_mask.any(-1)
    # Rows with no real key may attend everywhere (finite, unlike an all-False mask), then are zeroed.
    allowed = (key_padding_mask | ~has_key[:, None])[:, None, None, :]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    return out * has_key[:, None, None, None].to(out.dtype)


def _l2_cell_summed_map(q, k, present):
    # Spherical weights are linear in the scores once each row's norm is known: one matrix product.
    return kernels.spherical_attention_map(q, k, present, eps=EPS)


def _softmax_cell_summed_map(q, k, present):
    # SoftMax admits no such shortcut: every cell's (H, G, G) weights, then their sum.
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    weights = _softmax_weights(scores, present[:, None, None, :], EPS) * present[:, None, :, None]
    return weights.sum(0)


@dataclass(frozen=True)
class Normaliser:
    """What one attention normaliser means, everywhere it is used.

    weights(s, keep, eps): the unfused op, weights over the last axis of scores s; keep (broadcastable
        to s, True = real key) or None; a row with no real key gives zeros.
    attention(q, k, v, key_padding_mask, eps): the fused kernel on (B, H, N, D), mask (B, N) or None.
    cell_summed_map(q, k, present): sum over cells b of the (H, G, G) weights of scores q_b k_b^T /
        sqrt(D), from (B, H, G, D) q and k and (B, G) bool `present`; an absent gene neither attends
        nor is attended.
    work(n, rows): arithmetic of normalising n scores in `rows` rows.
    """
    name: str
    label: str
    weights: Callable
    attention: Callable
    cell_summed_map: Callable
    work: Callable[[int, int], Work]


NORMALISERS = {
    "l2": Normaliser("l2", "L2", _l2_weights, _l2_attention, _l2_cell_summed_map,
                     # square, sum, scale per score; one rsqrt per row
                     work=lambda n, rows: Work(vector=3 * n, special=rows)),
    "softmax": Normaliser("softmax", "SoftMax", _softmax_weights, _softmax_attention, _softmax_cell_summed_map,
                          # max, subtract, sum, divide and one exp per score
                          work=lambda n, rows: Work(vector=4 * n, special=n)),
}


def check_normaliser(name: str) -> Normaliser:
    if name not in NORMALISERS:
        raise ValueError(f"unknown normaliser {name!r}; allowed: {sorted(NORMALISERS)}")
    return NORMALISERS[name]


class NormaliseLastAxis(nn.Module):
    """A normaliser's unfused op over the last axis; masked entries count as absent."""

    def __init__(self, normaliser: Normaliser, eps):
        super().__init__()
        self.normaliser, self.eps = normaliser, eps

    def forward(self, s, key_padding_mask=None):
        keep = None if key_padding_mask is None else align_key_mask(key_padding_mask, s)
        return self.normaliser.weights(s, keep, self.eps)

    def extra_repr(self):
        return f"{self.normaliser.name}, eps={self.eps:g}"


@dataclass(frozen=True)
class Normalise(Box):
    """Normalise over `axis` with a normaliser named in NORMALISERS (SoftMax, or L2: divide by the root
    sum of squares + eps)."""
    axis: Axis = None
    kind: str = "softmax"
    eps: float = EPS
    takes_mask = True

    def __post_init__(self):
        check_normaliser(self.kind)
        object.__setattr__(self, "own_inputs", ((self.axis,),))
        object.__setattr__(self, "own_outputs", ((self.axis,),))

    @property
    def normaliser(self) -> Normaliser:
        return NORMALISERS[self.kind]

    def lower(self):
        return NormaliseLastAxis(self.normaliser, self.eps)

    def work(self, sizes):
        n = elements(self.outputs[0], sizes)
        return self.normaliser.work(n, n // self.axis.size_in(sizes))


def normalise(axis: Axis, kind: str, eps: float = EPS) -> Normalise:
    """A Normalise box named by its normaliser's label (what the drawing shows)."""
    return Normalise(check_normaliser(kind).label, axis=axis, kind=kind, eps=eps)


@dataclass(frozen=True)
class LayerNorm(Box):
    """Layer norm over `axis`, with a named gain and bias."""
    has_parameters = True
    axis: Axis = None
    eps: float = 1e-5

    def __post_init__(self):
        check_parameter_name(self.name)
        object.__setattr__(self, "own_inputs", ((self.axis,),))
        object.__setattr__(self, "own_outputs", ((self.axis,),))

    def lower(self):
        return nn.LayerNorm(need_fixed(self.name, (self.axis,))[0], eps=self.eps)

    def work(self, sizes):
        n = elements(self.outputs[0], sizes)
        return Work(vector=7 * n, special=n // self.axis.size_in(sizes))

    def parameters_read(self, sizes):
        return 2 * self.axis.size_in(sizes)
