"""A diagram read as a dataflow graph: one node per computing box, wires numbered.

Routing boxes (copy, identity, rename) only renumber wires, so they leave no node. Both the torch
lowering and the cost model work on this graph; the fusion pass rewrites it.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from ncd_layers.boxes import Box
from ncd_layers.diagram import Compose, Diagram, Group, Product


@dataclass(frozen=True)
class Node:
    box: Box
    inputs: tuple[int, ...]
    output: int


@dataclass(frozen=True)
class Graph:
    inputs: tuple[int, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[int, ...]


def build(diagram: Diagram) -> Graph:
    wire_ids = itertools.count()
    nodes = []

    def connect(d, ids):
        if isinstance(d, Compose):
            for part in d.parts:
                ids = connect(part, ids)
            return ids
        if isinstance(d, Group):
            return connect(d.inner, ids)
        if isinstance(d, Product):
            out, start = (), 0
            for part in d.parts:
                out += connect(part, ids[start:start + len(part.inputs)])
                start += len(part.inputs)
            return out
        if d.alias:
            return tuple(d.route(ids))
        node = Node(d, tuple(ids), next(wire_ids))
        nodes.append(node)
        return (node.output,)

    inputs = tuple(next(wire_ids) for _ in diagram.inputs)
    outputs = connect(diagram, inputs)
    return Graph(inputs, tuple(nodes), outputs)
