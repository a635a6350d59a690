"""A napkin performance model: FLOPs and HBM traffic of a diagram's lowerings, and predicted time.

In the spirit of "FlashAttention on a Napkin" (Abbott & Zardini): every wire that crosses between
kernels lives in HBM, so each lowered op reads its input wires and parameters from HBM and writes its
output wire back. Unfused, every box is its own kernel; fused, the attention pattern is one kernel
whose score and weight wires stay on chip. A kernel's compute time adds its tensor-core FLOPs, other
FLOPs and special-function calls (exp, rsqrt, erf), each at its unit's rate: the same warps issue all
three, as in FlashAttention-2 (FlashAttention-3's ping-pong scheduling overlaps the exp with the matrix
products, which this model does not credit). Loads overlap compute, so a kernel takes the larger of its
compute time and its HBM time; kernels run one after another.
"""
from __future__ import annotations

from dataclasses import dataclass

from ncd_layers.axes import Axis, elements
from ncd_layers.boxes import Work
from ncd_layers.fusion import fuse_attention
from ncd_layers.graph import build
from ncd_layers.layers import TransformerAxes, attention_core


@dataclass(frozen=True)
class Hardware:
    name: str
    matmul_flops_per_s: float   # tensor-core rate at the data type costed
    hbm_bytes_per_s: float
    vector_flops_per_s: float   # fp32 non-tensor rate (elementwise work)
    special_ops_per_s: float    # special-function unit rate (exp, rsqrt)


# H100 SXM5: bf16 dense tensor cores 989e12 on the datasheet, of which large GEMMs reach about 800e12;
# HBM3 3.35e12 B/s; fp32 non-tensor 67e12 (datasheet); 3.9e12 special-function ops/s (FlashAttention-3 paper).
H100 = Hardware("H100 SXM", matmul_flops_per_s=800e12, hbm_bytes_per_s=3.35e12,
                vector_flops_per_s=67e12, special_ops_per_s=3.9e12)


@dataclass(frozen=True)
class Cost:
    work: Work
    hbm_bytes: int
    seconds: float

    @property
    def flops(self) -> int:
        return self.work.matmul + self.work.vector


@dataclass(frozen=True)
class CostReport:
    unfused: Cost
    fused: Cost
    hardware: Hardware

    def __str__(self):
        rows = [f"{'lowering':9} {'matmul FLOPs':>14} {'other FLOPs':>13} {'special ops':>12} "
                f"{'HBM bytes':>12} {'predicted on ' + self.hardware.name:>24}"]
        for name, c in (("unfused", self.unfused), ("fused", self.fused)):
            rows.append(f"{name:9} {c.work.matmul:14.4g} {c.work.vector:13.4g} {c.work.special:12.4g} "
                        f"{c.hbm_bytes:12.4g} {c.seconds * 1e6:21.2f} us")
        return "\n".join(rows)


def _box_cost(box, sizes, hardware, bytes_per_element) -> Cost:
    work = box.work(sizes)
    moved = bytes_per_element * (sum(elements(w, sizes) for w in box.inputs + box.outputs)
                                 + box.parameters_read(sizes))
    compute = (work.matmul / hardware.matmul_flops_per_s + work.vector / hardware.vector_flops_per_s
               + work.special / hardware.special_ops_per_s)
    seconds = max(compute, moved / hardware.hbm_bytes_per_s)
    return Cost(work, moved, seconds)


def _graph_cost(graph, sizes, hardware, bytes_per_element) -> Cost:
    costs = [_box_cost(node.box, sizes, hardware, bytes_per_element) for node in graph.nodes]
    return Cost(sum((c.work for c in costs), Work()), sum(c.hbm_bytes for c in costs),
                sum(c.seconds for c in costs))


def cost(diagram, sizes: dict[str, int], hardware: Hardware, bytes_per_element: int = 2) -> CostReport:
    free = {a.name for box in diagram.boxes() for w in box.inputs + box.outputs for a in w if a.size is None}
    missing = sorted(free - set(sizes))
    if missing:
        raise ValueError(f"give sizes for the free axes {missing}")
    graph = build(diagram)
    return CostReport(_graph_cost(graph, sizes, hardware, bytes_per_element),
                      _graph_cost(fuse_attention(graph), sizes, hardware, bytes_per_element), hardware)


def predict_attention_time(B: int, H: int, N: int, D: int, normaliser: str, bytes_per_element: int = 2,
                           hardware: Hardware = H100) -> float:
    """Predicted seconds of one fused attention forward on (B, H, N, D) inputs."""
    core = attention_core(TransformerAxes.make(H * D, H), normaliser).over(Axis("b"))
    return cost(core, {"b": B, "x": N, "y": N}, hardware, bytes_per_element).fused.seconds
