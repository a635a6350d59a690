"""Atomic output files: written to a temporary file beside the target, then renamed over it,
so an interrupted run never leaves a half-written file."""
import json
import os
import tempfile
from pathlib import Path

import pandas as pd

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path, write) -> Path:
    """Call `write(temporary_path)` and move the result to `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes it private; outputs get the usual mode
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_ranked_edges(edges: pd.DataFrame, path) -> Path:
    """BEELINE rankedEdges format: Gene1<TAB>Gene2<TAB>EdgeWeight, regulator -> target."""
    table = edges[["Gene1", "Gene2", "EdgeWeight"]]
    return atomic_write(path, lambda tmp: table.to_csv(tmp, sep="\t", index=False))


def write_json(data: dict, path) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n"))
