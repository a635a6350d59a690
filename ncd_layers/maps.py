"""Linear boxes: named linear maps (the parameters), embedding lookups and contractions (einsum)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ncd_layers.axes import Axis, Wire, as_wire, elements
from ncd_layers.boxes import Box, Work, check_parameter_name, need_fixed


class LinearMap(nn.Linear):
    """nn.Linear on the flattened trailing axes, reshaped back to the output axes."""

    def __init__(self, in_shape, out_shape, bias):
        super().__init__(math.prod(in_shape), math.prod(out_shape), bias=bias)
        self.in_rank, self.out_shape = len(in_shape), tuple(out_shape)

    def forward(self, t):
        lead = t.shape[:t.ndim - self.in_rank]
        return super().forward(t.reshape(*lead, -1)).reshape(*lead, *self.out_shape)


@dataclass(frozen=True)
class Linear(Box):
    """A named linear map (with bias) from the axes `in_axes` to the axes `out_axes`."""
    has_parameters = True
    in_axes: Wire = ()
    out_axes: Wire = ()
    bias: bool = True

    def __post_init__(self):
        check_parameter_name(self.name)
        object.__setattr__(self, "in_axes", as_wire(self.in_axes))
        object.__setattr__(self, "out_axes", as_wire(self.out_axes))
        object.__setattr__(self, "own_inputs", (self.in_axes,))
        object.__setattr__(self, "own_outputs", (self.out_axes,))

    def lower(self):
        return LinearMap(need_fixed(self.name, self.in_axes), need_fixed(self.name, self.out_axes), self.bias)

    def work(self, sizes):
        n_out = elements(self.outputs[0], sizes)
        return Work(matmul=2 * elements(self.inputs[0], sizes) * elements(self.out_axes, sizes),
                    vector=n_out if self.bias else 0)

    def parameters_read(self, sizes):
        n_out = elements(self.out_axes, sizes)
        return elements(self.in_axes, sizes) * n_out + (n_out if self.bias else 0)


class LookupMap(nn.Embedding):
    def __init__(self, vocabulary, out_shape):
        super().__init__(vocabulary, math.prod(out_shape))
        self.out_shape = tuple(out_shape)

    def forward(self, index):
        return super().forward(index).reshape(*index.shape, *self.out_shape)


@dataclass(frozen=True)
class Lookup(Box):
    """A named linear map out of one-hot vectors over an index axis: an embedding table."""
    has_parameters = True
    vocabulary: Axis = None
    out_axes: Wire = ()

    def __post_init__(self):
        check_parameter_name(self.name)
        if not (isinstance(self.vocabulary, Axis) and self.vocabulary.index and self.vocabulary.size):
            raise ValueError(f"lookup {self.name!r} needs a sized index axis, got {self.vocabulary!r}")
        object.__setattr__(self, "out_axes", as_wire(self.out_axes))
        object.__setattr__(self, "own_inputs", ((self.vocabulary,),))
        object.__setattr__(self, "own_outputs", (self.out_axes,))

    def lower(self):
        return LookupMap(self.vocabulary.size, need_fixed(self.name, self.out_axes))

    def parameters_read(self, sizes):
        return elements(self.outputs[0], sizes)  # only the rows looked up



class Einsum(nn.Module):
    def __init__(self, equation, scale):
        super().__init__()
        self.equation, self.scale = equation, scale

    def forward(self, *tensors):
        out = torch.einsum(self.equation, *tensors)
        return out if self.scale == 1.0 else out * self.scale

    def extra_repr(self):
        return f"{self.equation!r}, scale={self.scale:g}"


@dataclass(frozen=True)
class Contraction(Box):
    """Multiply the input wires and sum over every axis missing from the output (then scale)."""
    in_wires: tuple = ()
    out_axes: Wire = ()
    scale: float = 1.0

    def __post_init__(self):
        ins = tuple(as_wire(w) for w in self.in_wires)
        out = as_wire(self.out_axes)
        seen = {a for w in ins for a in w}
        stray = [a.name for a in out if a not in seen]
        if stray:
            raise ValueError(f"contraction {self.name!r}: output axes {stray} appear in no input")
        object.__setattr__(self, "in_wires", ins)
        object.__setattr__(self, "out_axes", out)
        object.__setattr__(self, "own_inputs", ins)
        object.__setattr__(self, "own_outputs", (out,))

    @property
    def contracted(self) -> Wire:
        """Axes summed over, in order of first appearance."""
        return tuple(dict.fromkeys(a for w in self.in_wires for a in w if a not in self.out_axes))

    def equation(self) -> str:
        letters = {}
        for axis in (a for w in self.in_wires + (self.out_axes,) for a in w):
            letters.setdefault(axis, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[len(letters)])
        word = lambda wire: "..." + "".join(letters[a] for a in wire)
        return ",".join(map(word, self.in_wires)) + "->" + word(self.out_axes)

    def lower(self):
        return Einsum(self.equation(), self.scale)

    def work(self, sizes):
        every_axis = self.batch + tuple(dict.fromkeys(a for w in self.in_wires for a in w))
        return Work(matmul=2 * (len(self.in_wires) - 1) * elements(every_axis, sizes),
                    vector=0 if self.scale == 1.0 else elements(self.outputs[0], sizes))
