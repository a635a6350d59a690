"""Named, sized axes and the wires that carry them.

An axis is a named dimension (`x` gene tokens, `m` model width, `h` heads, `k` head width).
A wire carries a tuple of axes: the shape of the tensor that flows along it, in order.
A size of None leaves the axis free (batch or token count), bound when the diagram runs or is costed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

Wire = tuple  # tuple[Axis, ...]


@dataclass(frozen=True, repr=False)
class Axis:
    name: str
    size: int | None = None
    # An index axis travels as an integer index rather than a one-hot vector (a lookup's input).
    index: bool = False

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"axis name must be an identifier, got {self.name!r}")
        if self.size is not None and (not isinstance(self.size, int) or self.size < 1):
            raise ValueError(f"axis {self.name!r} needs a positive int size or None, got {self.size!r}")

    def __str__(self):
        return self.name

    def __repr__(self):
        extra = ("" if self.size is None else f", {self.size}") + (", index=True" if self.index else "")
        return f"Axis({self.name!r}{extra})"

    def describe(self) -> str:
        return self.name if self.size is None else f"{self.name}={self.size}"

    def size_in(self, sizes: dict[str, int]) -> int:
        """This axis's size: its own if fixed, else looked up in `sizes`."""
        if self.size is not None:
            return self.size
        if self.name not in sizes:
            raise ValueError(f"axis {self.name!r} is free: give its size in sizes")
        return sizes[self.name]


def as_wire(axes) -> Wire:
    """A wire from an Axis or an iterable of Axes; rejects repeated axis names."""
    wire = (axes,) if isinstance(axes, Axis) else tuple(axes)
    for axis in wire:
        if not isinstance(axis, Axis):
            raise TypeError(f"a wire carries Axis objects, got {axis!r}")
    names = [axis.name for axis in wire]
    if len(set(names)) != len(names):
        raise ValueError(f"wire {wire_label(wire)} repeats an axis")
    return wire


def wire_label(wire: Wire) -> str:
    return "(" + ", ".join(axis.name for axis in wire) + ")"


def elements(wire: Wire, sizes: dict[str, int]) -> int:
    """Number of stored numbers on a wire (an index axis stores one integer, not a one-hot vector)."""
    return math.prod(axis.size_in(sizes) for axis in wire if not axis.index)
