"""Elementwise boxes: a function of each number on a wire."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ncd_layers.axes import Wire, as_wire, elements
from ncd_layers.boxes import Box, Work


# name -> (torch function, work per element)
ACTIVATIONS = {
    "gelu": (F.gelu, Work(vector=8, special=1)),
    "relu": (F.relu, Work(vector=1)),
    "tanh": (torch.tanh, Work(special=1)),
    "sigmoid": (torch.sigmoid, Work(vector=2, special=1)),
}


class Pointwise(nn.Module):
    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, t):
        return ACTIVATIONS[self.function][0](t)

    def extra_repr(self):
        return self.function


@dataclass(frozen=True)
class Elementwise(Box):
    """A function applied to every number on a wire; `name` is one of ACTIVATIONS."""
    wire: Wire = ()

    def __post_init__(self):
        if self.name not in ACTIVATIONS:
            raise ValueError(f"unknown elementwise function {self.name!r}; allowed: {sorted(ACTIVATIONS)}")
        object.__setattr__(self, "wire", as_wire(self.wire))
        object.__setattr__(self, "own_inputs", (self.wire,))
        object.__setattr__(self, "own_outputs", (self.wire,))

    def lower(self):
        return Pointwise(self.name)

    def work(self, sizes):
        per = ACTIVATIONS[self.name][1]
        n = elements(self.outputs[0], sizes)
        return Work(per.matmul * n, per.vector * n, per.special * n)


@dataclass(frozen=True)
class Dropout(Box):
    """Zero each number with probability p while training (an elementwise random function)."""
    wire: Wire = ()
    p: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {self.p}")
        object.__setattr__(self, "wire", as_wire(self.wire))
        object.__setattr__(self, "own_inputs", (self.wire,))
        object.__setattr__(self, "own_outputs", (self.wire,))

    def lower(self):
        return nn.Dropout(self.p)

    def work(self, sizes):
        return Work(vector=2 * elements(self.outputs[0], sizes))
