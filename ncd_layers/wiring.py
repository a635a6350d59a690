"""Wiring boxes: residual addition, copying, identity and relabelling an axis."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ncd_layers.axes import Axis, Wire, as_wire, elements, wire_label
from ncd_layers.boxes import Box, Work


class Sum(nn.Module):
    def forward(self, first, *rest):
        for t in rest:
            first = first + t
        return first


@dataclass(frozen=True)
class Add(Box):
    """Add n wires of the same type (the residual addition)."""
    wire: Wire = ()
    n: int = 2

    def __post_init__(self):
        object.__setattr__(self, "wire", as_wire(self.wire))
        object.__setattr__(self, "own_inputs", (self.wire,) * self.n)
        object.__setattr__(self, "own_outputs", (self.wire,))

    def lower(self):
        return Sum()

    def work(self, sizes):
        return Work(vector=(self.n - 1) * elements(self.outputs[0], sizes))


@dataclass(frozen=True)
class Copy(Box):
    """Copy a wire n times."""
    wire: Wire = ()
    n: int = 2
    alias = True

    def __post_init__(self):
        object.__setattr__(self, "wire", as_wire(self.wire))
        object.__setattr__(self, "own_inputs", (self.wire,))
        object.__setattr__(self, "own_outputs", (self.wire,) * self.n)

    def route(self, ids):
        return ids * self.n


@dataclass(frozen=True)
class Identity(Box):
    """A wire passing straight through (used beside other boxes in a product)."""
    wire: Wire = ()
    alias = True

    def __post_init__(self):
        object.__setattr__(self, "wire", as_wire(self.wire))
        object.__setattr__(self, "own_inputs", (self.wire,))
        object.__setattr__(self, "own_outputs", (self.wire,))

    def route(self, ids):
        return ids


@dataclass(frozen=True)
class Rename(Box):
    """Relabel one axis of a wire (e.g. tokens x read as keys y); the data does not move."""
    wire: Wire = ()
    old: Axis = None
    new: Axis = None
    alias = True

    def __post_init__(self):
        wire = as_wire(self.wire)
        if self.old not in wire:
            raise ValueError(f"rename {self.name!r}: axis {self.old} is not on wire {wire_label(wire)}")
        if None not in (self.old.size, self.new.size) and self.old.size != self.new.size:
            raise ValueError(f"rename {self.name!r}: {self.old.describe()} and {self.new.describe()} differ in size")
        object.__setattr__(self, "wire", wire)
        object.__setattr__(self, "own_inputs", (wire,))
        object.__setattr__(self, "own_outputs", (as_wire(self.new if a == self.old else a for a in wire),))

    def route(self, ids):
        return ids


def copy(wire, n=2):
    return Copy("copy", wire=wire, n=n)


def identity(wire):
    return Identity("id", wire=wire)


def add(wire, n=2):
    return Add("add", wire=wire, n=n)


def rename(wire, old, new):
    return Rename(f"{old}→{new}", wire=wire, old=old, new=new)
