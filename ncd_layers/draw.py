"""Render a diagram in the neural-circuit-diagram style with matplotlib.

Data flows left to right. Composition places parts side by side, products stack them top to bottom.
Every wire between parts is labelled with its axes; a group is framed with its label. A broadcast box is drawn as a stack of copies
tagged with the axes it is broadcast over (∀ b,x); the normaliser box names SoftMax or L2 and its axis.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch, PathPatch
from matplotlib.path import Path as CurvePath

from ncd_layers.maps import Contraction, Linear, Lookup
from ncd_layers.normalise import LayerNorm, Normalise
from ncd_layers.pointwise import Dropout, Elementwise
from ncd_layers.wiring import Add, Copy, Identity, Rename
from ncd_layers.diagram import Compose, Group, Product

ROW = 1.2      # vertical distance between wires
GAP = 1.1      # horizontal room between composed parts, where wire labels go
MARGIN = 0.6   # above and below the diagram, room for broadcast tags
INCH = 0.55    # inches per layout unit
FRAME = 0.35   # a group's frame: room between the frame and its contents (more above, for the label)
FILL = {Linear: "#cfe2f3", Lookup: "#cfe2f3", LayerNorm: "#d9ead3", Contraction: "#ffffff",
        Normalise: "#f9cb9c", Elementwise: "#fff2cc", Dropout: "#eeeeee"}


@dataclass
class _Laid:
    width: float
    height: float
    ins: list           # input port heights, measured down from the top
    outs: list
    paint: Callable     # paint(ax, left, top)


def wire_text(wire) -> str:
    return ",".join(a.name for a in wire) or "()"


def _ports(n, height):
    return [height / 2 + (i - (n - 1) / 2) * ROW for i in range(n)]


def _curve(ax, x0, y0, x1, y1, **style):
    mid = (x0 + x1) / 2
    path = CurvePath([(x0, y0), (mid, y0), (mid, y1), (x1, y1)], [CurvePath.MOVETO] + [CurvePath.CURVE4] * 3)
    ax.add_patch(PathPatch(path, fill=False, lw=1.0, color=style.get("color", "black"), zorder=1))


def _box_label(box) -> str:
    arrow = lambda a, b: f"{wire_text(a)} → {wire_text(b)}"
    if isinstance(box, Linear):
        return f"{box.name}\n{arrow(box.in_axes, box.out_axes)}"
    if isinstance(box, Lookup):
        return f"{box.name}\n{arrow((box.vocabulary,), box.out_axes)}"
    if isinstance(box, LayerNorm):
        return f"{box.name}\nLayerNorm over {box.axis}"
    if isinstance(box, Contraction):
        scale = "" if box.scale == 1.0 else f" × {box.scale:.3g}"
        return f"{box.name}\nΣ over {wire_text(box.contracted)}{scale}"
    if isinstance(box, Normalise):
        return f"{box.name}\nover {box.axis}"
    if isinstance(box, Dropout):
        return f"dropout\np={box.p:g}"
    return box.name


def _lay_box(box) -> _Laid:
    n_in, n_out = len(box.inputs), len(box.outputs)
    height = max(n_in, n_out, 1) * ROW
    ins, outs = _ports(n_in, height), _ports(n_out, height)
    if isinstance(box, Identity):
        return _Laid(0.0, height, ins, outs, lambda ax, left, top: None)
    if isinstance(box, (Copy, Add)):
        width = 0.6

        def paint_junction(ax, left, top):
            cx, cy = left + width / 2, top + height / 2
            for y in ins:
                _curve(ax, left, top + y, cx, cy)
            for y in outs:
                _curve(ax, cx, cy, left + width, top + y)
            if isinstance(box, Add):
                ax.add_patch(Circle((cx, cy), 0.17, fc="white", ec="black", zorder=2))
                ax.text(cx, cy, "+", ha="center", va="center", fontsize=9, zorder=3)
            else:
                ax.add_patch(Circle((cx, cy), 0.06, color="black", zorder=2))
        return _Laid(width, height, ins, outs, paint_junction)
    if isinstance(box, Rename):
        width = 0.8

        def paint_rename(ax, left, top):
            ax.plot([left, left + width], [top + ins[0]] * 2, color="black", lw=1.0, ls=":", zorder=1)
            ax.text(left + width / 2, top + ins[0] - 0.12, f"{box.old}→{box.new}", ha="center", va="bottom",
                    fontsize=7, style="italic", zorder=3)
        return _Laid(width, height, ins, outs, paint_rename)

    label = _box_label(box)
    width = max(1.0, 0.1 * max(map(len, label.split("\n"))) + 0.4)

    def paint_box(ax, left, top):
        fill = FILL.get(type(box), "#ffffff")
        bold = "bold" if isinstance(box, Normalise) else "normal"
        for depth in (2, 1) if box.batch else ():  # copies behind: the box repeats over its broadcast axes
            ax.add_patch(FancyBboxPatch((left + 0.07 * depth, top + 0.25 - 0.07 * depth), width, height - 0.5,
                                        boxstyle="round,pad=0,rounding_size=0.08", fc=fill, ec="#888888",
                                        lw=0.6, zorder=2))
        ax.add_patch(FancyBboxPatch((left, top + 0.25), width, height - 0.5,
                                    boxstyle="round,pad=0,rounding_size=0.08", fc=fill, ec="black", lw=1.0,
                                    zorder=2))
        ax.text(left + width / 2, top + height / 2, label, ha="center", va="center", fontsize=7,
                fontweight=bold, zorder=3)
        if box.batch:
            ax.text(left + width / 2, top + 0.08, "∀ " + wire_text(box.batch), ha="center", va="bottom",
                    fontsize=6, color="#555555", zorder=3)
    return _Laid(width, height, ins, outs, paint_box)


def _lay_product(product) -> _Laid:
    parts = [_lay(p) for p in product.parts]
    width, height = max(p.width for p in parts), sum(p.height for p in parts)
    tops = [sum(p.height for p in parts[:i]) for i in range(len(parts))]
    ins = [t + y for p, t in zip(parts, tops) for y in p.ins]
    outs = [t + y for p, t in zip(parts, tops) for y in p.outs]

    def paint(ax, left, top):
        for part, offset in zip(parts, tops):
            part.paint(ax, left, top + offset)
            for y in part.outs:  # a narrower part's wires run on to the right edge
                ax.plot([left + part.width, left + width], [top + offset + y] * 2, color="black", lw=1.0,
                        zorder=1)
    return _Laid(width, height, ins, outs, paint)


def _lay_compose(compose) -> _Laid:
    parts = [_lay(p) for p in compose.parts]
    height = max(p.height for p in parts)
    lefts = [sum(p.width for p in parts[:i]) + GAP * i for i in range(len(parts))]
    drops = [(height - p.height) / 2 for p in parts]

    def paint(ax, left, top):
        for i, (part, x, dy) in enumerate(zip(parts, lefts, drops)):
            part.paint(ax, left + x, top + dy)
            if i + 1 == len(parts):
                break
            nxt, x1, dy1 = parts[i + 1], lefts[i + 1], drops[i + 1]
            for j, wire in enumerate(compose.parts[i].outputs):
                y0, y1 = top + dy + part.outs[j], top + dy1 + nxt.ins[j]
                _curve(ax, left + x + part.width, y0, left + x1, y1)
                ax.text(left + x + part.width + 0.2, y0 - 0.06, wire_text(wire), ha="left", va="bottom",
                        fontsize=6, color="#1f4e79", zorder=3)
    return _Laid(lefts[-1] + parts[-1].width, height, [drops[0] + y for y in parts[0].ins],
                 [drops[-1] + y for y in parts[-1].outs], paint)


def _lay_group(group) -> _Laid:
    inner = _lay(group.inner)
    head = 2 * FRAME
    width, height = inner.width + 2 * FRAME, inner.height + head + FRAME

    def paint(ax, left, top):
        ax.add_patch(FancyBboxPatch((left, top + 0.1), width, height - 0.1, boxstyle="round,pad=0,rounding_size=0.15",
                                    fill=False, ec="#7f7f7f", lw=0.8, ls="--", zorder=0))
        ax.text(left + 0.15, top + 0.15, group.label, ha="left", va="top", fontsize=7, color="#7f7f7f",
                style="italic", zorder=3)
        inner.paint(ax, left + FRAME, top + head)
        for ys, x0 in ((inner.ins, left), (inner.outs, left + FRAME + inner.width)):
            for y in ys:
                ax.plot([x0, x0 + FRAME], [top + head + y] * 2, color="black", lw=1.0, zorder=1)
    return _Laid(width, height, [head + y for y in inner.ins], [head + y for y in inner.outs], paint)


def _lay(diagram) -> _Laid:
    if isinstance(diagram, Group):
        return _lay_group(diagram)
    if isinstance(diagram, Compose):
        return _lay_compose(diagram)
    if isinstance(diagram, Product):
        return _lay_product(diagram)
    return _lay_box(diagram)


def draw(diagram, path) -> Path:
    """Write `diagram` to `path` (.svg keeps its text as text, .png is a 150 dpi image)."""
    path = Path(path)
    if path.suffix.lower() not in (".svg", ".png"):
        raise ValueError(f"draw writes .svg or .png, got {path.name!r}")
    laid = _lay(diagram)
    width, height = laid.width + 2 * GAP, laid.height + 2 * MARGIN
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig = Figure(figsize=(width * INCH, height * INCH))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.axis("off")
        laid.paint(ax, GAP, MARGIN)
        for ports, wires, x0 in ((laid.ins, diagram.inputs, 0.0), (laid.outs, diagram.outputs, GAP + laid.width)):
            for y, wire in zip(ports, wires):
                ax.plot([x0, x0 + GAP], [MARGIN + y] * 2, color="black", lw=1.0, zorder=1)
                ax.text(x0 + GAP / 2, MARGIN + y - 0.06, wire_text(wire), ha="center", va="bottom", fontsize=6,
                        color="#1f4e79")
        fig.savefig(path, dpi=150)
    return path
