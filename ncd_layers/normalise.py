"""Normalisation over an axis: SoftMax or L2 (spherical) over keys, and layer norm."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ncd_layers.axes import Axis, elements
from ncd_layers.boxes import Box, Work, check_parameter_name, need_fixed


NORMALISERS = {"softmax": "SoftMax", "l2": "L2"}  # key -> drawn label


def align_key_mask(mask, like):
    """A (B, Y) key mask viewed against a (B, ..., Y) tensor: first axis and normalised axis."""
    if mask.shape != (like.shape[0], like.shape[-1]):
        raise ValueError(f"key_padding_mask of shape {tuple(mask.shape)} must be (first axis, normalised "
                         f"axis) = {(like.shape[0], like.shape[-1])}")
    return mask.reshape(mask.shape[0], *([1] * (like.ndim - 2)), mask.shape[1])


class Normaliser(nn.Module):
    """SoftMax or L2 over the last axis; masked entries count as absent, an empty row gives zeros."""

    def __init__(self, kind, eps):
        super().__init__()
        self.kind, self.eps = kind, eps

    def forward(self, s, key_padding_mask=None):
        keep = None if key_padding_mask is None else align_key_mask(key_padding_mask, s)
        if self.kind == "l2":
            if keep is not None:
                s = s.masked_fill(~keep, 0.0)
            # One reduction (in at least fp32) and one scaling pass over the scores.
            norm = torch.linalg.vector_norm(s, dim=-1, keepdim=True,
                                            dtype=torch.promote_types(s.dtype, torch.float32))
            return s * torch.rsqrt(norm.square() + self.eps).to(s.dtype)
        if keep is None:
            return s.softmax(-1)
        # A finite fill keeps rows with no real key finite (also in backward); they are zeroed after.
        p = s.masked_fill(~keep, torch.finfo(s.dtype).min).softmax(-1)
        return p * keep.any(-1, keepdim=True)

    def extra_repr(self):
        return f"{self.kind}, eps={self.eps:g}"


@dataclass(frozen=True)
class Normalise(Box):
    """Normalise over `axis` with SoftMax or L2 (spherical: divide by the root sum of squares + eps)."""
    axis: Axis = None
    kind: str = "softmax"
    eps: float = 1e-6
    takes_mask = True

    def __post_init__(self):
        if self.kind not in NORMALISERS:
            raise ValueError(f"unknown normaliser {self.kind!r}; allowed: {sorted(NORMALISERS)}")
        object.__setattr__(self, "own_inputs", ((self.axis,),))
        object.__setattr__(self, "own_outputs", ((self.axis,),))

    def lower(self):
        return Normaliser(self.kind, self.eps)

    def work(self, sizes):
        n = elements(self.outputs[0], sizes)
        if self.kind == "softmax":  # max, subtract, exp, sum, divide
            return Work(vector=4 * n, special=n)
        return Work(vector=3 * n, special=n // self.axis.size_in(sizes))  # square, sum, scale; rsqrt per row


def normalise(axis: Axis, kind: str, eps: float = 1e-6) -> Normalise:
    return Normalise(NORMALISERS.get(kind, kind), axis=axis, kind=kind, eps=eps)


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
