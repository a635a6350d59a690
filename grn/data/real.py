"""Real cells with experimental truths (`../shared/data/real`, its README gives the protocol), in two layouts:

- BEELINE's experimental benchmark: `<dataset>/ExpressionData.csv[.gz]` (genes x cells, log-normalised),
  `PseudoTime.csv`, `truths/<truth>.csv` (`Gene1,Gene2`: regulator, target).
- McCalla et al.: `<dataset>/expression_log2.tsv[.gz]` (tab-separated, one gene a row, log2 counts; the
  header holds only the cell names, one field fewer than the rows), `genes.tsv` and `tfs.tsv` (one symbol
  a line), and the truths of its cell type, every `../truths/<cell>/<truth>.tsv` (headerless TF, target),
  where `<cell>` is the dataset name's part before the first `_` (hESC_chen -> hESC).

Each dataset becomes an AnnData (cells x genes, float32, values as stored: already log-normalised) with
`uns["name"]` (the folder's name), `uns["truths"]` ({file stem: `Gene1, Gene2` table restricted to edges
between two distinct genes of the data, deduplicated}) and, for McCalla, `uns["tfs"]` (its TF list
within the data's genes, in file order).
"""
import gzip
import io
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from grn.data.loaders import _checked_anndata, _read_csv, add_pseudotime, check_not_swapped, read_genes_by_cells_csv
from grn.errors import InputError

BEELINE_EXPRESSION = ("ExpressionData.csv", "ExpressionData.csv.gz")
MCCALLA_EXPRESSION = ("expression_log2.tsv", "expression_log2.tsv.gz")
PAIR = ["Gene1", "Gene2"]


def load_real(folder) -> ad.AnnData:
    """A real dataset folder of either layout, told apart by its expression file."""
    folder = _existing_folder(folder)
    if _first_existing(folder, BEELINE_EXPRESSION):
        return load_beeline_experimental(folder)
    if _first_existing(folder, MCCALLA_EXPRESSION):
        return load_mccalla(folder)
    raise InputError(f"{folder}: no expression file; expected one of {BEELINE_EXPRESSION + MCCALLA_EXPRESSION}")


def find_real_datasets(data_root, pattern: str = "*") -> list[Path]:
    """The dataset folders (either layout) directly under `data_root` whose names match `pattern`, by name."""
    root = _existing_folder(data_root)
    found = sorted((folder for folder in root.glob(pattern) if folder.is_dir()
                    and _first_existing(folder, BEELINE_EXPRESSION + MCCALLA_EXPRESSION)), key=lambda f: f.name)
    if not found:
        raise InputError(f"no real dataset folder matching {pattern!r} under {root}")
    return found


def load_beeline_experimental(folder) -> ad.AnnData:
    """A folder of BEELINE's experimental benchmark (TFs + 500/1000 genes)."""
    folder = _existing_folder(folder)
    expression_file = _first_existing(folder, BEELINE_EXPRESSION) or folder / BEELINE_EXPRESSION[0]
    adata = read_genes_by_cells_csv(expression_file)
    truth_files = sorted((folder / "truths").glob("*.csv"))
    if not truth_files:
        raise InputError(f"{folder / 'truths'}: no truth file (*.csv)")
    tables = {path: _read_csv(path, dtype=str, keep_default_na=False) for path in truth_files}
    check_not_swapped(adata, {gene for table in tables.values() for column in PAIR
                              for gene in table.get(column, [])}, expression_file)
    add_pseudotime(adata, folder / "PseudoTime.csv")
    adata.uns["name"] = folder.name
    adata.uns["truths"] = {path.stem: restricted_truth(table, adata.var_names, path) for path, table in tables.items()}
    return adata


def load_mccalla(folder) -> ad.AnnData:
    """A dataset folder of McCalla et al.'s benchmark, scored against every truth of its cell type."""
    folder = _existing_folder(folder)
    expression_file = _first_existing(folder, MCCALLA_EXPRESSION) or folder / MCCALLA_EXPRESSION[0]
    adata = _read_short_header_tsv(expression_file)
    genes = _read_symbols(folder / "genes.tsv")
    check_not_swapped(adata, set(genes), expression_file)
    if set(genes) != set(adata.var_names):
        unlisted = sorted(set(adata.var_names) ^ set(genes))
        raise InputError(f"{folder / 'genes.tsv'}: does not list exactly the genes of {expression_file.name} "
                         f"({len(genes)} listed, {adata.n_vars} in the data; e.g. {unlisted[:5]} in one only)")
    tfs = _read_symbols(folder / "tfs.tsv")
    in_data = set(adata.var_names)
    adata.uns["tfs"] = [tf for tf in dict.fromkeys(tfs) if tf in in_data]
    if not adata.uns["tfs"]:
        raise InputError(f"{folder / 'tfs.tsv'}: none of its {len(tfs)} TFs is a gene of the data (e.g. {tfs[:5]})")
    cell_type = folder.name.split("_", 1)[0]
    truth_files = sorted((folder.parent / "truths" / cell_type).glob("*.tsv"))
    if not truth_files:
        raise InputError(f"{folder.parent / 'truths' / cell_type}: no truth file (*.tsv) for cell type {cell_type!r}")
    adata.uns["name"] = folder.name
    adata.uns["truths"] = {path.stem: restricted_truth(_read_edge_list(path), adata.var_names, path)
                           for path in truth_files}
    return adata


def restricted_truth(table: pd.DataFrame, genes, source) -> pd.DataFrame:
    """The truth's edges between two distinct genes of `genes`, once each (the protocol's first step)."""
    missing = set(PAIR) - set(table.columns)
    if missing:
        raise InputError(f"{source}: missing column(s) {sorted(missing)}; expected Gene1,Gene2")
    edges = table[PAIR].astype(str)
    blank = (edges == "").any(axis=1)
    if blank.any():
        raise InputError(f"{source}: {int(blank.sum())} edge(s) lack a regulator or target")
    known = pd.Index(genes)
    edges = edges[edges["Gene1"].isin(known) & edges["Gene2"].isin(known) & (edges["Gene1"] != edges["Gene2"])]
    if edges.empty:
        raise InputError(f"{source}: no edge joins two distinct genes of the data ({len(table)} edges, "
                         f"e.g. {table[PAIR].head(3).to_records(index=False).tolist()})")
    return edges.drop_duplicates().reset_index(drop=True)


def _read_short_header_tsv(path: Path) -> ad.AnnData:
    """McCalla's expression table: each row a gene and its values, the header only the cell names."""
    lines = _read_text(path).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 2:
        raise InputError(f"{path}: empty; expected a header of cell names and one row per gene")
    cells = lines[0].split("\t")
    fields = np.array([line.count("\t") + 1 for line in lines[1:]])
    usual = int(np.bincount(fields).argmax())
    odd = np.flatnonzero(fields != usual)
    if odd.size:
        raise InputError(f"{path}: ragged TSV: line {odd[0] + 2} has {fields[odd[0]]} fields where the other rows "
                         f"have {usual}")
    if usual != len(cells) + 1:
        raise InputError(f"{path}: the header has {len(cells)} fields and each row {usual}; expected the header to "
                         f"hold only the cell names, one field fewer than a row (its gene, then its values)")
    table = pd.read_csv(io.StringIO("\n".join(lines[1:])), sep="\t", header=None, index_col=0, dtype={0: str},
                        keep_default_na=False)
    table.columns = cells
    return _checked_anndata(table.T, path)


def _read_edge_list(path: Path) -> pd.DataFrame:
    """A headerless, tab-separated two-column edge list: regulator, target."""
    rows = {number: line.split("\t") for number, line in enumerate(_read_text(path).splitlines(), 1) if line.strip()}
    odd = next((number for number, row in rows.items() if len(row) != 2), None)
    if odd is not None:
        raise InputError(f"{path}: ragged TSV: line {odd} has {len(rows[odd])} fields; expected 2 (regulator, target)")
    if not rows:
        raise InputError(f"{path}: empty; expected one regulator<TAB>target edge a line")
    return pd.DataFrame(list(rows.values()), columns=PAIR)


def _read_symbols(path: Path) -> list[str]:
    """A one-symbol-a-line list (gene or TF names)."""
    symbols = [line.strip() for line in _read_text(path).splitlines() if line.strip()]
    if not symbols:
        raise InputError(f"{path}: empty; expected one symbol a line")
    return symbols


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    try:
        with (gzip.open(path, "rt") if path.suffix == ".gz" else open(path)) as handle:
            return handle.read()
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {path}: {error}") from error


def _first_existing(folder: Path, names) -> Path | None:
    return next((folder / name for name in names if (folder / name).is_file()), None)


def _existing_folder(folder) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"dataset folder not found: {folder}")
    return folder
