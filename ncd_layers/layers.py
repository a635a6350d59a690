"""Transformer layers declared as diagrams. They know nothing of genes: only axes.

Wires: x tokens, y the same tokens read as keys, m model width, h heads, k head width, f MLP width.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ncd_layers.axes import Axis
from ncd_layers.maps import Contraction, Linear
from ncd_layers.normalise import LayerNorm, normalise
from ncd_layers.pointwise import Dropout, Elementwise
from ncd_layers.wiring import add, copy, identity, rename
from ncd_layers.diagram import Diagram


@dataclass(frozen=True)
class TransformerAxes:
    tokens: Axis
    keys: Axis
    width: Axis
    heads: Axis
    head_width: Axis
    hidden: Axis

    @classmethod
    def make(cls, width: int, heads: int, mlp_ratio: int = 2):
        if width % heads:
            raise ValueError(f"width {width} must be divisible by heads {heads}")
        return cls(Axis("x"), Axis("y"), Axis("m", width), Axis("h", heads), Axis("k", width // heads),
                   Axis("f", mlp_ratio * width))


def attention_core(ax: TransformerAxes, normaliser: str) -> Diagram:
    """q (x,h,k), k (y,h,k), v (y,h,k) -> (x,h,k): contract over k, normalise over y, contract over y."""
    x, y, h, k = ax.tokens, ax.keys, ax.heads, ax.head_width
    scores = Contraction("scores", ((x, h, k), (y, h, k)), (h, x, y), scale=1 / math.sqrt(k.size))
    mix = Contraction("mix", ((h, x, y), (y, h, k)), (x, h, k))
    values = identity((y, h, k))
    return (scores @ values) >> (normalise(y, normaliser).over(h, x) @ values) >> mix


def multi_head_attention(ax: TransformerAxes, normaliser: str, prefix: str = "") -> Diagram:
    """(x, m) -> (x, m): q/k/v maps m -> (h, k), attention over the tokens, output map (h, k) -> m."""
    x, m, h, k = ax.tokens, ax.width, ax.heads, ax.head_width
    project = lambda name: Linear(prefix + name, (m,), (h, k)).over(x)
    as_keys = rename((x, h, k), x, ax.keys)
    qkv = copy((x, m), 3) >> (project("q") @ (project("k") >> as_keys) @ (project("v") >> as_keys))
    core = attention_core(ax, normaliser).group("attention core")
    return qkv >> core >> Linear(prefix + "o", (h, k), (m,)).over(x)


def mlp(ax: TransformerAxes, prefix: str = "", activation: str = "gelu") -> Diagram:
    """(x, m) -> (x, m): m -> f, activation, f -> m."""
    x, m, f = ax.tokens, ax.width, ax.hidden
    return (Linear(prefix + "up", (m,), (f,)) >> Elementwise(activation, wire=(f,))
            >> Linear(prefix + "down", (f,), (m,))).over(x)


def residual(f: Diagram) -> Diagram:
    """x + f(x): copy the wire, run f on one copy, add."""
    if len(f.inputs) != 1 or f.inputs != f.outputs:
        raise ValueError("a residual needs one input wire and the same wire out")
    wire = f.inputs[0]
    return copy(wire) >> (identity(wire) @ f) >> add(wire)


def transformer_block(ax: TransformerAxes, normaliser: str, prefix: str = "", dropout: float = 0.0) -> Diagram:
    """Pre-LayerNorm block on (x, m): x + attention(LN(x)), then x + MLP(LN(x))."""
    x, m = ax.tokens, ax.width

    def sublayer(name, body):
        d = LayerNorm(prefix + name + "_norm", axis=m).over(x) >> body
        d = d >> Dropout("dropout", wire=(x, m), p=dropout) if dropout else d
        return residual(d).group(name)

    return sublayer("attention", multi_head_attention(ax, normaliser, prefix)) >> sublayer("mlp", mlp(ax, prefix))
