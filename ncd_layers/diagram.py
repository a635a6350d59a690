"""Diagrams: boxes composed in sequence (`f >> g`), stacked in parallel (`f @ g`) and broadcast
over extra axes (`f.over(x)`).

A diagram has typed input and output wires. Composition checks that the wires meet; a mismatch
raises a CompositionError naming the two boxes that meet there and the axes that differ.
A diagram only describes: lowering.lower, draw.draw and cost.cost read it, so it knows none of them.
"""
from __future__ import annotations

from ncd_layers.axes import Wire, wire_label


class CompositionError(ValueError):
    """Raised when `f >> g` joins wires that carry different axes."""


class Diagram:
    inputs: tuple[Wire, ...]
    outputs: tuple[Wire, ...]

    def __rshift__(self, other: Diagram) -> Diagram:
        return Compose((self, other))

    def __matmul__(self, other: Diagram) -> Diagram:
        return Product((self, other))

    def over(self, *axes) -> Diagram:
        """Broadcast this diagram over extra leading axes."""
        raise NotImplementedError

    def group(self, label: str) -> Diagram:
        """The same diagram, drawn inside a frame labelled `label`."""
        return Group(self, label)

    def boxes(self):
        """The atomic boxes, in drawing order."""
        raise NotImplementedError

    def producer(self, i: int):
        """The atomic box that writes output wire i."""
        raise NotImplementedError

    def consumer(self, i: int):
        """The atomic box that reads input wire i."""
        raise NotImplementedError


def _check_meets(f: Diagram, g: Diagram):
    if len(f.outputs) != len(g.inputs):
        raise CompositionError(
            f"cannot compose {f.producer(0).name!r} >> {g.consumer(0).name!r}: "
            f"{len(f.outputs)} wire(s) {', '.join(map(wire_label, f.outputs))} come out but "
            f"{len(g.inputs)} wire(s) {', '.join(map(wire_label, g.inputs))} go in")
    for i, (out, inp) in enumerate(zip(f.outputs, g.inputs)):
        if out == inp:
            continue
        only_out = [a.describe() for a in out if a not in inp]
        only_in = [a.describe() for a in inp if a not in out]
        differ = (f"{', '.join(only_out) or 'nothing'} vs {', '.join(only_in) or 'nothing'}"
                  if only_out or only_in else "same axes in a different order")
        raise CompositionError(
            f"cannot compose {f.producer(i).name!r} >> {g.consumer(i).name!r}: wire {i} out of "
            f"{f.producer(i).name!r} carries {wire_label(out)} but {g.consumer(i).name!r} expects "
            f"{wire_label(inp)}; offending axes: {differ}")


class Compose(Diagram):
    """Sequential composition: each part's outputs feed the next part's inputs."""

    def __init__(self, parts):
        flat = []
        for part in parts:
            flat.extend(part.parts if isinstance(part, Compose) else [part])
        for f, g in zip(flat, flat[1:]):
            _check_meets(f, g)
        self.parts = tuple(flat)
        self.inputs, self.outputs = flat[0].inputs, flat[-1].outputs

    def over(self, *axes):
        return Compose(part.over(*axes) for part in self.parts)

    def boxes(self):
        for part in self.parts:
            yield from part.boxes()

    def producer(self, i):
        return self.parts[-1].producer(i)

    def consumer(self, i):
        return self.parts[0].consumer(i)


class Product(Diagram):
    """Parallel stacking: wires of the parts side by side, inputs and outputs concatenated."""

    def __init__(self, parts):
        flat = []
        for part in parts:
            flat.extend(part.parts if isinstance(part, Product) else [part])
        self.parts = tuple(flat)
        self.inputs = sum((part.inputs for part in flat), ())
        self.outputs = sum((part.outputs for part in flat), ())

    def over(self, *axes):
        return Product(part.over(*axes) for part in self.parts)

    def boxes(self):
        for part in self.parts:
            yield from part.boxes()

    def _locate(self, i, wires_of):
        for part in self.parts:
            if i < len(wires_of(part)):
                return part, i
            i -= len(wires_of(part))
        raise IndexError(i)

    def producer(self, i):
        part, j = self._locate(i, lambda p: p.outputs)
        return part.producer(j)

    def consumer(self, i):
        part, j = self._locate(i, lambda p: p.inputs)
        return part.consumer(j)


class Group(Diagram):
    """A labelled sub-diagram: framed when drawn, otherwise exactly its contents."""

    def __init__(self, inner: Diagram, label: str):
        self.inner, self.label = inner, label
        self.inputs, self.outputs = inner.inputs, inner.outputs

    def over(self, *axes):
        return Group(self.inner.over(*axes), self.label)

    def boxes(self):
        yield from self.inner.boxes()

    def producer(self, i):
        return self.inner.producer(i)

    def consumer(self, i):
        return self.inner.consumer(i)
