"""Neural circuit diagrams that build, draw and cost a model.

Axes name tensor dimensions; boxes are typed operations; `f >> g` composes, `f @ g` stacks,
`f.over(axis)` broadcasts. `lower(diagram)` makes the torch module (attention as fused kernels),
`draw(diagram, path)` renders it, `cost(diagram, sizes, hardware)` predicts its FLOPs, bytes and time.
NORMALISERS says what each attention normaliser (L2, SoftMax) means, for all of them.
"""
from ncd_layers.axes import Axis
from ncd_layers.boxes import Box, Work
from ncd_layers.maps import Contraction, Linear, Lookup
from ncd_layers.normalise import NORMALISERS, LayerNorm, Normalise, Normaliser, normalise
from ncd_layers.pointwise import Dropout, Elementwise
from ncd_layers.wiring import Add, Copy, Identity, Rename, add, copy, identity, rename
from ncd_layers.cost import H100, Cost, CostReport, Hardware, cost, predict_attention_time
from ncd_layers.diagram import CompositionError, Compose, Diagram, Group, Product
from ncd_layers.draw import draw
from ncd_layers.layers import (TransformerAxes, attention_core, mlp, multi_head_attention, residual,
                               transformer_block)
from ncd_layers.lowering import LoweredDiagram, lower

__all__ = ["Axis", "Box", "Add", "Contraction", "Copy", "Dropout", "Elementwise", "Identity", "LayerNorm", "Linear",
           "Lookup", "NORMALISERS", "Normalise", "Normaliser", "Rename", "Work", "add", "copy", "identity",
           "normalise", "rename", "H100", "Cost", "CostReport", "Hardware", "cost", "predict_attention_time",
           "CompositionError", "Compose", "Diagram", "Group", "Product", "draw", "TransformerAxes",
           "attention_core", "mlp", "multi_head_attention", "residual", "transformer_block", "LoweredDiagram",
           "lower"]
