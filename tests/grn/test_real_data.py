"""Real data in: scanpy's pbmc68k_reduced with OmniPath truth, a user's own .h5ad through the config,
and clear errors for files without what the run needs."""
import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp

from grn.data.loaders import load_h5ad, load_pbmc68k
from grn.errors import InputError
from grn.run import run
from hydra_configs import compose_train

SMALL_MODEL = ("logger=none", "model.width=16", "model.heads=2", "+trainer.limit_val_batches=1")


def test_pbmc68k_is_scanpys_raw_with_omnipath_truth():
    adata = load_pbmc68k()
    reference = sc.datasets.pbmc68k_reduced().raw
    assert adata.shape == (700, 765) and sp.isspmatrix_csr(adata.X)
    assert list(adata.var_names) == list(reference.var_names)
    np.testing.assert_allclose(adata.X.toarray(), reference.X.toarray(), rtol=1e-6)
    truth = adata.uns["ground_truth"]
    assert len(truth) == 189 and set(truth["Type"]) == {"+", "-"}
    edges = set(truth[["Gene1", "Gene2", "Type"]].itertuples(index=False, name=None))
    assert ("SPI1", "IL1B", "+") in edges  # PU.1 activates IL-1beta, curated by 13 OmniPath resources
    assert set(truth["Gene1"]) | set(truth["Gene2"]) <= set(adata.var_names)


def poisson_counts(n_cells=60, n_genes=300, seed=0):
    return np.random.default_rng(seed).poisson(2.0, size=(n_cells, n_genes))


def write_h5ad(path, X, layers=None, var=None):
    n_cells, n_genes = X.shape if X is not None else next(iter(layers.values())).shape
    adata = ad.AnnData(X=X, layers=layers, obs=pd.DataFrame(index=[f"cell{i}" for i in range(n_cells)]),
                       var=var if var is not None else pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)]))
    adata.write_h5ad(path)
    return path


@pytest.mark.parametrize("layout", [sp.csc_matrix, np.asarray])
def test_h5ad_counts_in_a_layer_stay_sparse_or_dense_as_stored(tmp_path, layout):
    counts = poisson_counts(20, 6).astype(np.int32)
    path = write_h5ad(tmp_path / "cells.h5ad", X=np.zeros((20, 6), np.float32), layers={"counts": layout(counts)})
    adata = load_h5ad(path, layer="counts", counts=True)
    assert sp.issparse(adata.X) == sp.issparse(layout(counts))
    assert adata.X.dtype == np.float32
    dense = adata.X.toarray() if sp.issparse(adata.X) else adata.X
    np.testing.assert_array_equal(dense, counts)


@pytest.mark.parametrize("build, options, message", [
    (lambda: dict(X=np.log1p(poisson_counts(20, 6)).astype(np.float32)), {}, r"\.X: no counts: values are not non-negative integers"),
    (lambda: dict(X=np.zeros((20, 6)), layers={"norm": np.full((20, 6), 0.5)}), {"layer": "norm"},
     r"layers\['norm'\]: no counts"),
    (lambda: dict(X=None, layers={"counts": poisson_counts(20, 6)}), {}, r"no \.X matrix.*\['counts'\]"),
    (lambda: dict(X=poisson_counts(20, 6)), {"layer": "counts"}, r"no layer 'counts'; layers are \[\]"),
    (lambda: dict(X=poisson_counts(20, 6)), {"gene_column": "symbol"}, "no var column 'symbol'"),
    (lambda: dict(X=poisson_counts(20, 3), var=pd.DataFrame({"symbol": ["A", "B", "A"]}, index=list("xyz"))),
     {"gene_column": "symbol"}, r"duplicate gene names: \['A'\]"),
])
def test_h5ad_without_what_the_run_needs_names_the_problem(tmp_path, build, options, message):
    path = write_h5ad(tmp_path / "cells.h5ad", **build())
    with pytest.raises(InputError, match=message):
        load_h5ad(path, counts=True, **options)


@pytest.mark.parametrize("expressed_only", [False, True])
def test_a_users_h5ad_trains_with_one_override(tmp_path, expressed_only):
    counts = sp.csr_matrix(poisson_counts())
    path = write_h5ad(tmp_path / "mine.h5ad", X=counts)
    cfg = compose_train(tmp_path, "data=h5ad", f"data.source.path={path}", "+trainer.fast_dev_run=true",
                        "data.loader.num_workers=0", f"data.loader.expressed_only={expressed_only}", *SMALL_MODEL)
    metrics = run(cfg).metrics
    assert metrics["n_cells"] == 60 and metrics["n_genes"] == 300  # QC keeps every cell and gene here
    network = pd.read_csv(tmp_path / "network.csv", sep="\t")
    assert len(network) == 300 * 299 and set(network["Gene1"]) == {f"gene{j}" for j in range(300)}


def test_a_h5ad_of_normalised_values_is_refused_through_the_config(tmp_path):
    path = write_h5ad(tmp_path / "norm.h5ad", X=np.log1p(poisson_counts()).astype(np.float32))
    cfg = compose_train(tmp_path, "data=h5ad", f"data.source.path={path}", *SMALL_MODEL)
    with pytest.raises(InputError, match="no counts.*data.source.counts=false"):
        run(cfg)


def test_pbmc68k_trains_end_to_end_on_cpu(tmp_path):
    # One head of width 8: CPU attention over 765 genes is the cost of this test.
    cfg = compose_train(tmp_path, "experiment=grn_spherical", "data=pbmc68k", "+trainer.max_steps=2", *SMALL_MODEL,
                        "model.width=8", "model.heads=1")
    metrics = run(cfg).metrics
    assert metrics["dataset"] == "pbmc68k_reduced" and metrics["n_genes"] == 765
    assert metrics["n_true_edges"] == 189 and np.isfinite(metrics["auprc_ratio"])
    network = pd.read_csv(tmp_path / "network.csv", sep="\t")
    assert len(network) == 765 * 764
    assert (network["EdgeWeight"] != 0).any()
