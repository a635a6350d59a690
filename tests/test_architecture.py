"""The dependency arrows: train.py/benchmarks -> grn -> ncd_layers -> kernels, one way, with no import circle.

Read with `ast` from the source, so that imports inside functions (lazy ones) count as arrows too."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("grn", "ncd_layers", "kernels")  # each may import only the ones after it


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The project modules a file imports: for `from a.b import c`, a.b.c if that is a module, else a.b."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    files = [path for layer in LAYERS for path in sorted((REPO / layer).rglob("*.py"))]
    known = {module_name(path) for path in files}
    return {module_name(path): imported_modules(path, known) for path in files}


def cycle_from(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the modules along it, or None."""
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return trail[trail.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, trail + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def layer_of(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def test_no_upward_import():
    upward = [f"{module} imports {target}" for module, targets in graph().items() for target in targets
              if layer_of(target) < layer_of(module)]
    assert not upward, "imports against train.py -> grn -> ncd_layers -> kernels:\n" + "\n".join(upward)


def test_no_import_circle():
    circle = cycle_from(graph())
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_checks_catch_a_circle_and_an_upward_arrow():
    """The checks themselves: a made-up graph with a circle and an upward import is caught."""
    assert cycle_from({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_from({"a": {"b"}, "b": set()}) is None
    with pytest.raises(ValueError):
        layer_of("benchmarks.kernels")  # only the three packages have a place in the order
    assert layer_of("kernels.flashsign") > layer_of("ncd_layers.fusion") > layer_of("grn.run")
