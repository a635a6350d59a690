"""Render a diagram in the neural-circuit-diagram style with matplotlib.

Data flows left to right. Composition places parts side by side, products stack them top to bottom.
Every wire between parts is labelled with its axes; a group is framed with its label. A broadcast box is drawn as a stack of copies
tagged with the axes it is broadcast over (∀ b,x); the normaliser box names SoftMax or L2 and its axis.

A model made as a chain of named groups is drawn the way the NCD paper draws one: first the chain with each
group shut (consecutive groups of one label as one box, "block × 4"), then each kind of group opened once,
a group made of groups one row per group, so the picture keeps its width however deep the model is.
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
from ncd_layers.diagram import Compose, Diagram, Group, Product

ROW = 1.2      # vertical distance between wires
GAP = 0.85     # horizontal room between composed parts, where wire labels go
MARGIN = 0.6   # above and below the diagram, room for broadcast tags
INCH = 0.55    # inches per layout unit
FRAME = 0.35   # a group's frame: room between the frame and its contents (more above, for the label)
ROW_GAP = 0.9  # between the rows of an opened group, where the wires run back to the left
INDENT = 0.5   # left of those rows, where the wires come down
TURN = 0.3     # right of a row, where its wires turn down
WIRE_STEP = 0.15  # between the wires that run back together
PANEL_GAP = 0.6   # between lines of panels (the overview, the opened groups)
SIDE_GAP = 1.5    # between panels on one line, wide enough that their wires do not seem to join
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


def _lay_chain(parts, wires) -> _Laid:
    """Laid parts side by side; wires[i], the wires out of part i, curve into part i + 1, labelled."""
    height = max(p.height for p in parts)
    lefts = [sum(p.width for p in parts[:i]) + GAP * i for i in range(len(parts))]
    drops = [(height - p.height) / 2 for p in parts]

    def paint(ax, left, top):
        for i, (part, x, dy) in enumerate(zip(parts, lefts, drops)):
            part.paint(ax, left + x, top + dy)
            if i + 1 == len(parts):
                break
            nxt, x1, dy1 = parts[i + 1], lefts[i + 1], drops[i + 1]
            for j, wire in enumerate(wires[i]):
                y0, y1 = top + dy + part.outs[j], top + dy1 + nxt.ins[j]
                _curve(ax, left + x + part.width, y0, left + x1, y1)
                _wire_label(ax, left + x + part.width + 0.15, y0, wire, ha="left", below=y1 < y0)
    return _Laid(lefts[-1] + parts[-1].width, height, [drops[0] + y for y in parts[0].ins],
                 [drops[-1] + y for y in parts[-1].outs], paint)


def _lay_compose(compose) -> _Laid:
    return _lay_chain([_lay(p) for p in compose.parts], [p.outputs for p in compose.parts])


def _lay_rows(parts) -> _Laid:
    """Parts one under another, read like lines of text: each part's output wires run back to the next."""
    rows = [_lay(p) for p in parts]
    turn = TURN + WIRE_STEP * max(len(p.outputs) for p in parts)  # room right of a row for the wires' turn
    width = INDENT + max(r.width for r in rows) + turn
    tops = [sum(r.height for r in rows[:i]) + ROW_GAP * i for i in range(len(rows))]

    def paint(ax, left, top):
        x0 = left + INDENT
        for i, (row, y) in enumerate(zip(rows, tops)):
            row.paint(ax, x0, top + y)
            if i + 1 == len(rows):
                for out in row.outs:
                    ax.plot([x0 + row.width, left + width], [top + y + out] * 2, color="black", lw=1.0, zorder=1)
                break
            under = top + tops[i + 1] - ROW_GAP / 2
            for j, wire in enumerate(parts[i].outputs):
                shift = WIRE_STEP * j
                y_out, y_in = top + y + row.outs[j], top + tops[i + 1] + rows[i + 1].ins[j]
                right, back, down = x0 + row.width + TURN + shift, left + INDENT / 2 - shift, under + shift
                ax.plot([x0 + row.width, right, right, back, back, x0], [y_out, y_out, down, down, y_in, y_in],
                        color="black", lw=1.0, zorder=1)
                _wire_label(ax, (back + right) / 2, down, wire)
        for y in rows[0].ins:
            ax.plot([left, x0], [top + y] * 2, color="black", lw=1.0, zorder=1)
    return _Laid(width, tops[-1] + rows[-1].height, list(rows[0].ins), [tops[-1] + y for y in rows[-1].outs],
                 paint)


def _framed(inner: _Laid, label: str, fontsize: float = 7) -> _Laid:
    """`inner` inside a dashed frame with `label` at its top left; the wires cross the frame."""
    head = 2 * FRAME
    width, height = inner.width + 2 * FRAME, inner.height + head + FRAME

    def paint(ax, left, top):
        ax.add_patch(FancyBboxPatch((left, top + 0.1), width, height - 0.1, boxstyle="round,pad=0,rounding_size=0.15",
                                    fill=False, ec="#7f7f7f", lw=0.8, ls="--", zorder=0))
        ax.text(left + 0.15, top + 0.15, label, ha="left", va="top", fontsize=fontsize, color="#7f7f7f",
                style="italic", zorder=3)
        inner.paint(ax, left + FRAME, top + head)
        for ys, x0 in ((inner.ins, left), (inner.outs, left + FRAME + inner.width)):
            for y in ys:
                ax.plot([x0, x0 + FRAME], [top + head + y] * 2, color="black", lw=1.0, zorder=1)
    return _Laid(width, height, [head + y for y in inner.ins], [head + y for y in inner.outs], paint)


def _lay_group(group) -> _Laid:
    return _framed(_lay(group.inner), group.label)


def _lay(diagram) -> _Laid:
    if isinstance(diagram, Group):
        return _lay_group(diagram)
    if isinstance(diagram, Compose):
        return _lay_compose(diagram)
    if isinstance(diagram, Product):
        return _lay_product(diagram)
    return _lay_box(diagram)


def _chain_of_groups(diagram) -> bool:
    return isinstance(diagram, Compose) and all(isinstance(p, Group) for p in diagram.parts)


def _runs(groups) -> list[list]:
    """Consecutive groups that share a label: the same layer repeated (say, transformer blocks)."""
    runs = []
    for group in groups:
        if runs and runs[-1][0].label == group.label:
            runs[-1].append(group)
        else:
            runs.append([group])
    return runs


def _run_label(run) -> str:
    return run[0].label if len(run) == 1 else f"{run[0].label} × {len(run)}"


def _lay_shut(run) -> _Laid:
    """A run of groups drawn shut: one box named by the run's label."""
    label = _run_label(run)
    n_in, n_out = len(run[0].inputs), len(run[-1].outputs)
    height = max(n_in, n_out, 1) * ROW
    width = max(1.6, 0.12 * len(label) + 0.6)

    def paint(ax, left, top):
        ax.add_patch(FancyBboxPatch((left, top + 0.2), width, height - 0.4, boxstyle="round,pad=0,rounding_size=0.12",
                                    fc="#f3f3f3", ec="#555555", lw=1.0, ls="--", zorder=2))
        ax.text(left + width / 2, top + height / 2, label, ha="center", va="center", fontsize=9, style="italic",
                zorder=3)
    return _Laid(width, height, _ports(n_in, height), _ports(n_out, height), paint)


def _lay_open(run) -> _Laid:
    """The first group of a run, opened; a group made of groups is drawn one row per group."""
    inner = run[0].inner
    return _framed(_lay_rows(inner.parts) if _chain_of_groups(inner) else _lay(inner), _run_label(run), fontsize=9)


def _panels(diagram) -> list[tuple[_Laid, Diagram]]:
    """What to draw, in reading order, each with the diagram whose wires enter and leave it.

    A chain of named groups reads as the NCD paper draws a model: first the chain with every group shut
    (a run of same-label groups as one box, "block × 4"), then each run's first group opened beneath."""
    if not _chain_of_groups(diagram):
        return [(_lay(diagram), diagram)]
    runs = _runs(diagram.parts)
    overview = _lay_chain([_lay_shut(run) for run in runs], [run[-1].outputs for run in runs])
    return [(overview, diagram)] + [(_lay_open(run), run[0]) for run in runs]


def _wire_label(ax, x, y, wire, ha="center", below=False):
    """A wire's axes written just above it, or just below where the wire is about to turn upwards."""
    ax.text(x, y + 0.06 if below else y - 0.06, wire_text(wire), ha=ha, va="top" if below else "bottom",
            fontsize=6, color="#1f4e79", zorder=3)


def _pack(widths, limit) -> list[list[int]]:
    """Panels, in reading order, into lines no wider than `limit`: a panel that does not fit starts a line."""
    lines, used = [], 0.0
    for i, width in enumerate(widths):
        if lines and used + SIDE_GAP + width <= limit:
            lines[-1].append(i)
            used += SIDE_GAP + width
        else:
            lines.append([i])
            used = width
    return lines


def draw(diagram, path) -> Path:
    """Write `diagram` to `path` (.svg keeps its text as text, .png is a 150 dpi image)."""
    path = Path(path)
    if path.suffix.lower() not in (".svg", ".png"):
        raise ValueError(f"draw writes .svg or .png, got {path.name!r}")
    panels = _panels(diagram)
    widths = [laid.width + 2 * GAP for laid, _ in panels]  # with the wires in and out
    width = max(widths)
    lines = _pack(widths, width)
    heights = [max(panels[i][0].height for i in line) for line in lines]
    height = sum(heights) + PANEL_GAP * (len(lines) - 1) + 2 * MARGIN
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig = Figure(figsize=(width * INCH, height * INCH))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.axis("off")
        top = MARGIN
        for line, line_height in zip(lines, heights):
            left = 0.0
            for i in line:
                _paint_panel(ax, *panels[i], left, top)
                left += widths[i] + SIDE_GAP
            top += line_height + PANEL_GAP
        fig.savefig(path, dpi=150)
    return path


def _paint_panel(ax, laid, shown, left, top):
    """A laid panel with the wires of `shown` entering on the left and leaving on the right, labelled."""
    laid.paint(ax, left + GAP, top)
    for ports, wires, x0 in ((laid.ins, shown.inputs, left), (laid.outs, shown.outputs, left + GAP + laid.width)):
        for y, wire in zip(ports, wires):
            ax.plot([x0, x0 + GAP], [top + y] * 2, color="black", lw=1.0, zorder=1)
            _wire_label(ax, x0 + GAP / 2, top + y, wire)
