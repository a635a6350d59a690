"""Lowering a diagram to torch: one op per computing box, run in diagram order.

Boxes with parameters are stored by name in `maps` (boxes sharing a name share weights); the
parameter-free ops live in `ops`. With `fuse=True` attention patterns become fused kernels first.
"""
from __future__ import annotations

from dataclasses import replace

from torch import nn

from ncd_layers.axes import wire_label
from ncd_layers.fusion import FusedAttention, fuse_attention
from ncd_layers.graph import build


def lower(diagram, fuse: bool = True) -> LoweredDiagram:
    """An nn.Module computing `diagram`; `fuse` lowers attention patterns to fused kernels."""
    return LoweredDiagram(diagram, fuse)


class LoweredDiagram(nn.Module):
    def __init__(self, diagram, fuse: bool = True):
        super().__init__()
        self.diagram = diagram
        self.graph = fuse_attention(build(diagram)) if fuse else build(diagram)
        self.maps = nn.ModuleDict()
        self.ops = nn.ModuleList()
        declared = {}
        self._steps = []
        for node in self.graph.nodes:
            box = node.box
            if box.has_parameters:
                unbroadcast = replace(box, batch=())
                if box.name not in self.maps:
                    declared[box.name] = unbroadcast
                    self.maps[box.name] = box.lower()
                elif declared[box.name] != unbroadcast:
                    raise ValueError(f"two different boxes are named {box.name!r}: "
                                     f"{declared[box.name]} and {unbroadcast}")
                op = self.maps[box.name]
            else:
                op = box.lower()
                self.ops.append(op)
            self._steps.append((op, node))

    def fused_attention(self) -> list[nn.Module]:
        """The fused attention kernels, in diagram order (hook them to see q, k, v)."""
        return [op.kernel for op in self.ops if isinstance(op, FusedAttention)]

    def forward(self, *inputs, key_padding_mask=None):
        """One tensor per input wire, axes in wire order (an index axis is carried as integer ids).

        key_padding_mask: bool (first axis, key axis), True = real; used by every normalisation.
        """
        self._check(inputs)
        values = dict(zip(self.graph.inputs, inputs))
        for op, node in self._steps:
            args = [values[i] for i in node.inputs]
            values[node.output] = op(*args, key_padding_mask) if node.box.takes_mask else op(*args)
        outputs = tuple(values[i] for i in self.graph.outputs)
        return outputs[0] if len(outputs) == 1 else outputs

    def _check(self, inputs):
        wires = self.diagram.inputs
        if len(inputs) != len(wires):
            raise ValueError(f"diagram takes {len(wires)} input(s) {', '.join(map(wire_label, wires))}, "
                             f"got {len(inputs)}")
        for i, (tensor, wire) in enumerate(zip(inputs, wires)):
            stored = [a for a in wire if not a.index]
            if tensor.ndim != len(stored) or any(
                    a.size is not None and a.size != n for a, n in zip(stored, tensor.shape)):
                raise ValueError(f"input {i} must carry {', '.join(a.describe() for a in stored)} "
                                 f"(wire {wire_label(wire)}), got shape {tuple(tensor.shape)}")
