"""Recognise the attention pattern and lower it to one fused kernel.

The pattern, on any wires that fit it: a contraction of queries (.., x, d) with keys (.., y, d) over
the single axis d, scaled by 1/sqrt(|d|); a normalisation over the key axis y; a contraction of those
weights with values (.., y, e) over y. It becomes one FusedAttention box whose op calls the
normaliser's fused kernel (normalise.NORMALISERS: `kernels.flashsign` for L2,
`F.scaled_dot_product_attention` for SoftMax) on (B, H, N, D) tensors, where B is the first axis of the
score wire (the one the key padding mask is indexed by) and H every other shared axis. The
intermediate score and weight wires then never reach memory.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace

from torch import nn

from ncd_layers.boxes import Box
from ncd_layers.maps import Contraction
from ncd_layers.normalise import Normalise, Normaliser
from ncd_layers.graph import Graph, Node


class AttentionKernel(nn.Module):
    """A normaliser's fused attention on (B, H, N, D) tensors; hook it to see q, k, v and the mask."""

    def __init__(self, normaliser: Normaliser, eps):
        super().__init__()
        self.normaliser, self.eps = normaliser, eps

    def forward(self, q, k, v, key_padding_mask=None):
        return self.normaliser.attention(q, k, v, key_padding_mask, self.eps)

    def extra_repr(self):
        return f"{self.normaliser.name}, eps={self.eps:g}"


class FusedAttention(nn.Module):
    """Permute q, k, v into the kernel's (B, H, N, D) layout, run it, permute the result back."""

    def __init__(self, q_order, k_order, v_order, out_order, kernel):
        super().__init__()
        self.q_order, self.k_order, self.v_order, self.out_order = q_order, k_order, v_order, out_order
        self.kernel = kernel

    def forward(self, q, k, v, key_padding_mask=None):
        q, k, v = q.permute(self.q_order), k.permute(self.k_order), v.permute(self.v_order)
        heads = lambda t: t.reshape(t.shape[0], -1, t.shape[-2], t.shape[-1])
        out = self.kernel(heads(q), heads(k), heads(v), key_padding_mask)
        return out.reshape(*q.shape[:-1], v.shape[-1]).permute(self.out_order)


@dataclass(frozen=True)
class FusedAttentionBox(Box):
    """Scores, normalisation and mixing as one box; reads q, k, v and writes only the output."""
    scores: Contraction = None
    weights: Normalise = None
    mix: Contraction = None
    takes_mask = True

    def __post_init__(self):
        v_wire = next(w for w in self.mix.inputs if w != self.scores.outputs[0])
        object.__setattr__(self, "own_inputs", self.scores.inputs + (v_wire,))
        object.__setattr__(self, "own_outputs", self.mix.outputs)

    def lower(self):
        q, k, v = self.own_inputs
        (out,) = self.own_outputs
        batch = [a for a in self.scores.outputs[0] if a in q and a in k]
        x, = (a for a in q if a not in k)
        y, = (a for a in k if a not in q)
        d, = self.scores.contracted
        e, = (a for a in v if a not in batch and a != y)
        order = lambda wire, axes: tuple(wire.index(a) for a in axes)
        kernel_out = batch + [x, e]
        kernel = AttentionKernel(self.weights.normaliser, self.weights.eps)
        return FusedAttention(order(q, batch + [x, d]), order(k, batch + [y, d]), order(v, batch + [y, e]),
                              tuple(kernel_out.index(a) for a in out), kernel)

    def work(self, sizes):
        return self.scores.work(sizes) + self.weights.work(sizes) + self.mix.work(sizes)


def _matches(scores, weights, mix) -> bool:
    """Do these three boxes form attention in the layout the kernels take?"""
    if not (isinstance(scores, Contraction) and isinstance(weights, Normalise) and isinstance(mix, Contraction)):
        return False
    if len(scores.inputs) != 2 or len(mix.inputs) != 2 or len(scores.contracted) != 1:
        return False
    q, k = scores.inputs
    (s,) = scores.outputs
    v = next((w for w in mix.inputs if w != s), None)
    (d,), y = scores.contracted, weights.axis
    only_q, only_k = [a for a in q if a not in k], [a for a in k if a not in q]
    if v is None or only_k != [y] or len(only_q) != 1 or mix.contracted != (y,) or d.size is None:
        return False
    x = only_q[0]
    batch = {a for a in q if a in k} - {d}
    e = [a for a in v if a not in batch and a != y]
    return (set(s) == batch | {x, y} and s[0] in batch and set(v) - set(e) == batch | {y}
            and len(e) == 1 and e[0].size == d.size and set(mix.outputs[0]) == batch | {x, e[0]}
            and math.isclose(scores.scale, 1 / math.sqrt(d.size)) and mix.scale == 1.0)


def fuse_attention(graph: Graph) -> Graph:
    readers = Counter(i for node in graph.nodes for i in node.inputs) + Counter(graph.outputs)
    made_by = {node.output: node for node in graph.nodes}
    fused, dropped = {}, set()
    for mix in graph.nodes:
        for position in range(len(mix.inputs)):
            weights = made_by.get(mix.inputs[position])
            scores = weights and made_by.get(weights.inputs[0])
            if (scores and readers[weights.output] == 1 and readers[scores.output] == 1
                    and _matches(scores.box, weights.box, mix.box)):
                box = FusedAttentionBox("attention", scores=scores.box, weights=weights.box, mix=mix.box)
                v_id = mix.inputs[1 - position]
                fused[mix.output] = Node(box, scores.inputs + (v_id,), mix.output)
                dropped |= {scores.output, weights.output}
                break
    nodes = tuple(fused.get(n.output, n) for n in graph.nodes if n.output not in dropped)
    return replace(graph, nodes=nodes)
