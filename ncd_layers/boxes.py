"""The atomic box: it declares its typed wires, the torch op it lowers to (`lower()`) and the
arithmetic it does (`work()`), so one class holds a box's whole meaning. The kinds of box live in
maps.py (linear maps, contractions), pointwise.py, normalise.py and wiring.py.

A box's own wires are the axes it acts on; `box.over(b, x)` broadcasts it by prepending axes to
every wire. Lowered ops act on the trailing axes and broadcast over leading ones, the way torch does.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from torch import nn

from ncd_layers.axes import Wire, as_wire
from ncd_layers.diagram import Diagram


@dataclass(frozen=True)
class Work:
    """Arithmetic of one op: tensor-core FLOPs, other FLOPs, special-function calls (exp, rsqrt, erf)."""
    matmul: int = 0
    vector: int = 0
    special: int = 0

    def __add__(self, other):
        return Work(self.matmul + other.matmul, self.vector + other.vector, self.special + other.special)


@dataclass(frozen=True)
class Box(Diagram):
    name: str
    batch: Wire = field(default=(), kw_only=True)  # broadcast axes, prepended to every wire
    alias = False        # routing boxes (copy, identity, rename) move no data and vanish when lowered
    has_parameters = False  # lowered op owns parameters, shared by every box of the same name
    takes_mask = False   # lowered op wants the key padding mask

    # The box's own wires, set by each subclass's __post_init__ from its fields.
    own_inputs: tuple = field(default=(), init=False, repr=False, compare=False)
    own_outputs: tuple = field(default=(), init=False, repr=False, compare=False)

    @property
    def inputs(self):
        return tuple(self.batch + w for w in self.own_inputs)

    @property
    def outputs(self):
        return tuple(self.batch + w for w in self.own_outputs)

    def over(self, *axes):
        broadcast = replace(self, batch=as_wire(axes) + self.batch)
        for wire in broadcast.inputs + broadcast.outputs:
            as_wire(wire)  # rejects broadcasting over an axis the box already carries
        return broadcast

    def boxes(self):
        yield self

    def producer(self, i):
        return self

    def consumer(self, i):
        return self

    def lower(self) -> nn.Module:
        raise NotImplementedError

    def work(self, sizes) -> Work:
        return Work()

    def parameters_read(self, sizes) -> int:
        """Parameter numbers the op reads from memory."""
        return 0


def need_fixed(box_name, wire):
    free = [a.name for a in wire if a.size is None]
    if free:
        raise ValueError(f"box {box_name!r} acts on free axes {free}: its axes need fixed sizes")
    return tuple(a.size for a in wire)


def check_parameter_name(name):
    if not name.isidentifier():
        raise ValueError(f"a parameter box's name must be an identifier (it names the parameter), got {name!r}")
