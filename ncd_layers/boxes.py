"""The atomic boxes: each declares its typed wires, the torch op it lowers to (`lower()`),
and the arithmetic it does (`work()`), so one class holds a box's whole meaning.

A box's own wires are the axes it acts on; `box.over(b, x)` broadcasts it by prepending axes to
every wire. Lowered ops act on the trailing axes and broadcast over leading ones, the way torch does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from ncd_layers.axes import Axis, Wire, as_wire, elements, wire_label
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


def _need_fixed(box_name, wire):
    free = [a.name for a in wire if a.size is None]
    if free:
        raise ValueError(f"box {box_name!r} acts on free axes {free}: its axes need fixed sizes")
    return tuple(a.size for a in wire)


def _check_parameter_name(name):
    if not name.isidentifier():
        raise ValueError(f"a parameter box's name must be an identifier (it names the parameter), got {name!r}")


# ---------------------------------------------------------------- named linear maps (the parameters)

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
        _check_parameter_name(self.name)
        object.__setattr__(self, "in_axes", as_wire(self.in_axes))
        object.__setattr__(self, "out_axes", as_wire(self.out_axes))
        object.__setattr__(self, "own_inputs", (self.in_axes,))
        object.__setattr__(self, "own_outputs", (self.out_axes,))

    def lower(self):
        return LinearMap(_need_fixed(self.name, self.in_axes), _need_fixed(self.name, self.out_axes), self.bias)

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
        _check_parameter_name(self.name)
        if not (isinstance(self.vocabulary, Axis) and self.vocabulary.index and self.vocabulary.size):
            raise ValueError(f"lookup {self.name!r} needs a sized index axis, got {self.vocabulary!r}")
        object.__setattr__(self, "out_axes", as_wire(self.out_axes))
        object.__setattr__(self, "own_inputs", ((self.vocabulary,),))
        object.__setattr__(self, "own_outputs", (self.out_axes,))

    def lower(self):
        return LookupMap(self.vocabulary.size, _need_fixed(self.name, self.out_axes))

    def parameters_read(self, sizes):
        return elements(self.outputs[0], sizes)  # only the rows looked up


# ---------------------------------------------------------------- contractions (einsum)

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


# ---------------------------------------------------------------- elementwise functions

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


# ---------------------------------------------------------------- normalisation over an axis

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
        _check_parameter_name(self.name)
        object.__setattr__(self, "own_inputs", ((self.axis,),))
        object.__setattr__(self, "own_outputs", ((self.axis,),))

    def lower(self):
        return nn.LayerNorm(_need_fixed(self.name, (self.axis,))[0], eps=self.eps)

    def work(self, sizes):
        n = elements(self.outputs[0], sizes)
        return Work(vector=7 * n, special=n // self.axis.size_in(sizes))

    def parameters_read(self, sizes):
        return 2 * self.axis.size_in(sizes)


# ---------------------------------------------------------------- wiring: residual addition, copy, identity

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
