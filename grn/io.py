"""Output files, written atomically (to a temporary file beside the target, then renamed over it, so an
interrupted run never leaves a half-written file), and networks in the formats downstream tools read.

A network is one row per edge regulator -> target with a signed weight. `read_edges` takes any of these
files back to one uniform table, `source, target, weight` (NETWORK_COLUMNS):

| format | columns | separator | writer | read by |
|---|---|---|---|---|
| BEELINE rankedEdges | `Gene1 Gene2 EdgeWeight` | TAB, whatever the suffix (`network.csv`) | write_ranked_edges | BEELINE's evaluation |
| decoupler `net` | `source target weight` | `.tsv`: TAB, else comma | write_decoupler_net | decoupler's `mt.ulm`, `mt.mlm`, ... |
| pySCENIC adjacencies | `TF target importance regulation` | `.tsv`: TAB, else comma | write_pyscenic_adjacencies | `pyscenic ctx`, `modules_from_adjacencies` |
| Parquet | `source target weight` | (binary, pyarrow) | write_parquet | pandas, polars, arrow, duckdb |

pySCENIC's importance is non-negative (GRNBoost2's), so it gets |weight|, and the sign goes to its
`regulation` column (+1 / -1, pySCENIC's own name for it); reading multiplies them back. Weights keep
their float64 value through every text format (Python's shortest round-trip repr).
"""
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from grn.errors import InputError

_UMASK = os.umask(0)
os.umask(_UMASK)

NETWORK_COLUMNS = ["source", "target", "weight"]  # regulator, target, signed weight
LAYOUTS = {  # each format's (regulator, target, weight) columns
    "BEELINE rankedEdges": ["Gene1", "Gene2", "EdgeWeight"],
    "decoupler net": ["source", "target", "weight"],
    "pySCENIC adjacencies": ["TF", "target", "importance"],
}
GENE_COLUMNS = {column for regulator, target, _ in LAYOUTS.values() for column in (regulator, target)}
PYSCENIC_SIGN = "regulation"
# From here a run writes network.parquet beside network.csv (train.py, grn/run.py): a million edges
# (1,000 genes all regulating) make a 35 MB TSV that takes 6.5 s to write and 1.9 s to read back, the
# Parquet file 11 MB, 1.7 s and 1.0 s (2 CPU cores).
LARGE_NETWORK_EDGES = 1_000_000


def atomic_write(path, write) -> Path:
    """Call `write(temporary_path)` and move the result to `path` in one rename. The temporary file ends
    in `path`'s suffix, so that writers which infer a format or a compression from the name (`.gz`) see it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(handle)
    os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes it private; outputs get the usual mode
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_json(data: dict, path) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n"))


def as_network(edges: pd.DataFrame, source="edges") -> pd.DataFrame:
    """Edges in any layout of LAYOUTS as the uniform `source, target, weight` table, rows in their order,
    weights as float64 (anything that is not a number becomes NaN); other columns are dropped. An
    InputError names the columns when they match no layout."""
    layout = next((name for name, columns in LAYOUTS.items() if set(columns) <= set(edges.columns)), None)
    if layout is None:
        expected = "; ".join(f"{name}: {', '.join(columns)}" for name, columns in LAYOUTS.items())
        raise InputError(f"{source}: columns {list(edges.columns)} match no network layout ({expected})")
    regulator, target, weight = LAYOUTS[layout]
    network = pd.DataFrame({"source": edges[regulator], "target": edges[target],
                            "weight": pd.to_numeric(edges[weight], errors="coerce").astype(np.float64)})
    if layout == "pySCENIC adjacencies" and PYSCENIC_SIGN in edges.columns:
        network["weight"] *= pd.to_numeric(edges[PYSCENIC_SIGN], errors="coerce")
    return network.reset_index(drop=True)


def write_ranked_edges(edges: pd.DataFrame, path) -> Path:
    """BEELINE rankedEdges: TAB-separated `Gene1 Gene2 EdgeWeight` (whatever the file's suffix), regulator
    -> target. `edges` in any layout of LAYOUTS."""
    return _write_text(edges, LAYOUTS["BEELINE rankedEdges"], path, separator="\t")


def write_decoupler_net(edges: pd.DataFrame, path) -> Path:
    """decoupler's `net`: `source, target, weight` (signed), TAB-separated for a `.tsv` file, else
    comma-separated. In memory, `as_network(edges)` is that table."""
    return _write_text(edges, LAYOUTS["decoupler net"], path, separator=_separator_of(path))


def write_pyscenic_adjacencies(edges: pd.DataFrame, path) -> Path:
    """pySCENIC's adjacencies (`pyscenic grn`'s output, `pyscenic ctx`'s input): `TF, target, importance`
    with importance = |weight|, plus `regulation` = the weight's sign (+1 / -1, 0 for a zero weight).
    TAB-separated for a `.tsv` file, else comma-separated, as pySCENIC reads them."""
    network = as_network(edges)
    adjacencies = pd.DataFrame({"TF": network["source"], "target": network["target"],
                                "importance": network["weight"].abs(),
                                PYSCENIC_SIGN: np.sign(network["weight"]).astype(int)})
    return atomic_write(path, lambda tmp: adjacencies.to_csv(tmp, sep=_separator_of(path), index=False))


def write_parquet(edges: pd.DataFrame, path) -> Path:
    """Parquet (pyarrow) with the uniform `source, target, weight` columns: for large networks, a third of
    the TSV's size, faster to write and to read (LARGE_NETWORK_EDGES)."""
    network = as_network(edges)
    return atomic_write(path, lambda tmp: network.to_parquet(tmp, engine="pyarrow", index=False))


def read_edges(path) -> pd.DataFrame:
    """Any network file above (`.parquet`, or a text file whose header names one of LAYOUTS, TAB or
    comma separated, optionally compressed) as the uniform `source, target, weight` table, in file order."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"network file not found: {path}")
    if path.suffix == ".parquet":
        try:
            table = pd.read_parquet(path, engine="pyarrow")
        except Exception as error:  # pyarrow raises several types for a file that is not Parquet
            raise InputError(f"{path}: not a readable Parquet file ({error})") from error
    else:
        try:
            separator = "\t" if len(pd.read_csv(path, sep="\t", nrows=0).columns) > 1 else ","
            header = pd.read_csv(path, sep=separator, nrows=0).columns
            # gene names verbatim ("NA" is a gene); weights parsed to the float64 they were written from
            table = pd.read_csv(path, sep=separator, dtype={column: str for column in header if column in GENE_COLUMNS},
                                keep_default_na=False, float_precision="round_trip")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError) as error:
            raise InputError(f"{path}: not a readable network table ({error})") from error
    network = as_network(table, source=str(path))
    for column in ("source", "target"):
        blank = [name for name in network[column].dropna().unique() if not str(name).strip()]
        unnamed = network[column].isna() | network[column].isin(blank)
        if unnamed.any():
            raise InputError(f"{path}: no {column} gene name in edge row(s) {_first_rows(unnamed)}")
    if network["weight"].isna().any():
        raise InputError(f"{path}: a weight is missing or not a number in edge row(s) "
                         f"{_first_rows(network['weight'].isna())}")
    return network


def _write_text(edges, columns, path, separator) -> Path:
    table = as_network(edges).set_axis(columns, axis=1)
    return atomic_write(path, lambda tmp: table.to_csv(tmp, sep=separator, index=False))


def _separator_of(path) -> str:
    return "\t" if ".tsv" in Path(path).suffixes else ","


def _first_rows(bad: pd.Series) -> list:
    """The first five flagged rows, numbered from 1 after the header line."""
    return [int(row) + 1 for row in np.flatnonzero(bad.to_numpy())[:5]]
