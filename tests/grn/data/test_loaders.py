"""Loaders, ground-truth parsing and the DataModule, against hand-built inputs."""
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from grn.data.loaders import load_beeline, load_h5ad, load_krumsiek11
from grn.data.datamodule import ExpressionDataModule
from grn.errors import InputError
from grn.data.ground_truth import edges_from_boolean_rules
from grn.data.preprocess import PSEUDOTIME, gene_standardisation, preprocess, with_pseudotime

BEELINE = Path(__file__).resolve().parents[4] / "shared" / "data" / "beeline"


def write_beeline(folder: Path, expression: pd.DataFrame, truth: str = "Gene1,Gene2,Type\ng1,g2,+\ng2,g3,-\n"):
    folder.mkdir(parents=True, exist_ok=True)
    expression.to_csv(folder / "ExpressionData.csv")
    (folder / "refNetwork.csv").write_text(truth)
    return folder


def genes_by_cells(n_genes=3, n_cells=6, seed=0):
    values = np.random.default_rng(seed).gamma(2.0, 1.0, size=(n_genes, n_cells))
    return pd.DataFrame(values, index=[f"g{i + 1}" for i in range(n_genes)], columns=[f"c{j}" for j in range(n_cells)])


def test_beeline_folder_is_cells_by_genes_with_truth(tmp_path):
    expression = genes_by_cells()
    adata = load_beeline(write_beeline(tmp_path / "d", expression))
    assert adata.shape == (6, 3)
    assert list(adata.var_names) == ["g1", "g2", "g3"]
    np.testing.assert_allclose(adata.X, expression.T.to_numpy(), rtol=1e-6)
    assert adata.uns["ground_truth"].values.tolist() == [["g1", "g2", "+"], ["g2", "g3", "-"]]


def test_beeline_by_name_under_root(tmp_path):
    write_beeline(tmp_path / "curated" / "FAM" / "FAM_2000_0", genes_by_cells())
    assert load_beeline(name="FAM_2000_0", root=tmp_path).uns["name"] == "FAM_2000_0"
    with pytest.raises(InputError, match="no BEELINE dataset named 'NOPE'"):
        load_beeline(name="NOPE", root=tmp_path)


@pytest.mark.parametrize("corrupt, message", [
    (lambda f: (f / "ExpressionData.csv").unlink(), "file not found"),
    (lambda f: (f / "ExpressionData.csv").write_text('a,"b\n1,2,3,4\n'), "malformed CSV"),
    (lambda f: (f / "ExpressionData.csv").write_text(""), "malformed CSV"),
    (lambda f: (f / "ExpressionData.csv").write_text(",c0,c1\ng1,1,nan\ng2,1,2\n"), "NaN or infinite"),
    (lambda f: (f / "ExpressionData.csv").write_text(",c0,c1\ng1,1,x\ng2,1,2\n"), "non-numeric"),
    (lambda f: (f / "ExpressionData.csv").write_text(",c0,c1\ng1,1,-2\ng2,1,2\n"), "negative"),
    (lambda f: (f / "ExpressionData.csv").write_text(",c0,c1\ng1,1,1\ng1,1,2\ng3,1,1\n"), "duplicate gene names"),
    (lambda f: (f / "refNetwork.csv").write_text("Gene1,Gene2,Type\ng1,g9,+\n"), r"absent from the expression data: \['g9'\]"),
    (lambda f: (f / "refNetwork.csv").write_text("Gene1,Gene2,Type\ng1,g2,?\n"), "unknown edge sign"),
    (lambda f: (f / "refNetwork.csv").write_text("Gene1,Gene2,Type\ng1,g1,+\n"), "no edges between distinct genes"),
    (lambda f: (f / "refNetwork.csv").write_text("From,To\ng1,g2\n"), "missing column"),
    (lambda f: genes_by_cells().T.to_csv(f / "ExpressionData.csv"), "genes and cells look swapped"),
    (lambda f: (f / "PseudoTime.csv").write_text(",PseudoTime1\nx0,1.0\nx1,2.0\n"), "do not cover the cells"),
])
def test_bad_beeline_input_names_the_problem(tmp_path, corrupt, message):
    folder = write_beeline(tmp_path / "d", genes_by_cells())
    corrupt(folder)
    with pytest.raises(InputError, match=message):
        load_beeline(folder)


def test_missing_folder(tmp_path):
    with pytest.raises(InputError, match="folder not found"):
        load_beeline(tmp_path / "absent")


def test_boolean_rules_give_signed_edges(tmp_path):
    rules = tmp_path / "model.txt"
    rules.write_text("# comment\nA = A and not B\nB = (A or C.1) and not (B and not C.1)\nC.1 = \n")
    edges = {tuple(row) for row in edges_from_boolean_rules(rules).itertuples(index=False)}
    # B = (A or C.1) and not (B and not C.1): C.1 appears plainly (+) and under two nots (+).
    assert edges == {("A", "A", "+"), ("B", "A", "-"), ("A", "B", "+"), ("C.1", "B", "+"), ("B", "B", "-")}


def test_krumsiek11_truth_matches_its_rules():
    adata = load_krumsiek11()
    assert adata.shape == (640, 11)
    truth = {tuple(row) for row in adata.uns["ground_truth"].itertuples(index=False)}
    # Two rules from scanpy's krumsiek11.txt, read by hand.
    assert {("Cebpa", "Gfi1", "+"), ("EgrNab", "Gfi1", "-")} <= truth  # Gfi1 = Cebpa and not EgrNab
    assert {("Pu.1", "cJun", "+"), ("Gfi1", "cJun", "-")} <= truth  # cJun = Pu.1 and not Gfi1
    assert len(truth) == 30
    assert (adata.X >= 0).all()


def test_h5ad_layer_and_gene_column(tmp_path):
    counts = sp.random(20, 4, density=0.5, format="csr", random_state=0, dtype=np.float32) * 10
    adata = ad.AnnData(X=np.zeros((20, 4), dtype=np.float32), var=pd.DataFrame({"symbol": list("ABCD")}, index=list("wxyz")))
    adata.layers["counts"] = counts
    adata.write_h5ad(tmp_path / "cells.h5ad")
    loaded = load_h5ad(tmp_path / "cells.h5ad", layer="counts", gene_column="symbol")
    assert list(loaded.var_names) == list("ABCD")
    assert sp.issparse(loaded.X)
    np.testing.assert_allclose(loaded.X.toarray(), counts.toarray())
    with pytest.raises(InputError, match="no layer 'raw_counts'"):
        load_h5ad(tmp_path / "cells.h5ad", layer="raw_counts")
    with pytest.raises(InputError, match="no var column 'gene_ids'"):
        load_h5ad(tmp_path / "cells.h5ad", gene_column="gene_ids")
    with pytest.raises(InputError, match="h5ad file not found"):
        load_h5ad(tmp_path / "other.h5ad")


def test_preprocess_log1p_and_keeps_truth_genes():
    X = np.random.default_rng(1).poisson(3.0, size=(50, 8)).astype(np.float32)
    adata = ad.AnnData(X=X, var=pd.DataFrame(index=[f"g{i}" for i in range(8)]))
    adata.uns["ground_truth"] = pd.DataFrame({"Gene1": ["g0"], "Gene2": ["g1"], "Type": ["+"]})
    processed = preprocess(adata, normalize_total=None, log1p=True, n_top_genes=3)
    assert {"g0", "g1"} <= set(processed.var_names)
    assert 3 <= processed.n_vars <= 5
    np.testing.assert_allclose(processed[:, "g0"].X.ravel(), np.log1p(X[:, 0]), rtol=1e-5)


def test_standardisation_sparse_equals_dense():
    X = np.random.default_rng(2).poisson(1.0, size=(30, 5)).astype(np.float32)
    X[:, 4] = 2.0  # a constant gene standardises to zero, not NaN
    dense_mean, dense_std = gene_standardisation(ad.AnnData(X=X))
    sparse_mean, sparse_std = gene_standardisation(ad.AnnData(X=sp.csr_matrix(X)))
    np.testing.assert_allclose(dense_mean, X.mean(0), rtol=1e-5)
    np.testing.assert_allclose(dense_std[:4], X[:, :4].std(0), rtol=1e-4)
    assert dense_std[4] == 1.0
    np.testing.assert_allclose(sparse_mean, dense_mean, rtol=1e-6)
    np.testing.assert_allclose(sparse_std, dense_std, rtol=1e-5)


def test_datamodule_split_and_masks():
    X = np.random.default_rng(3).gamma(2.0, 1.0, size=(40, 10)).astype(np.float32)
    dm = ExpressionDataModule(ad.AnnData(X=X), batch_size=8, val_fraction=0.25, mask_fraction=0.3, seed=0)
    assert len(dm.train_cells) == 30 and len(dm.val_cells) == 10
    assert not set(dm.train_cells) & set(dm.val_cells)
    gene_ids, values, hidden = next(iter(dm.train_dataloader()))
    assert gene_ids.shape == values.shape == hidden.shape == (8, 10)
    assert (hidden.sum(1) == 3).all()
    first, second = (next(iter(dm.val_dataloader()))[2] for _ in range(2))
    assert torch_equal(first, second)  # validation hides the same genes every epoch
    expected = (X[dm.val_cells[0]] - dm.mean) / dm.std
    np.testing.assert_allclose(next(iter(dm.val_dataloader()))[1][0].numpy(), expected, rtol=1e-5)


def torch_equal(a, b):
    return bool((a == b).all())


@pytest.mark.parametrize("options, message", [
    (dict(batch_size=0), "batch_size"), (dict(mask_fraction=1.0), "mask_fraction"), (dict(val_fraction=0.0), "val_fraction"),
])
def test_datamodule_rejects_impossible_settings(options, message):
    with pytest.raises(InputError, match=message):
        ExpressionDataModule(ad.AnnData(X=np.ones((10, 3), dtype=np.float32)), **options)


@pytest.mark.skipif(not BEELINE.is_dir(), reason="shared BEELINE data not beside the repository")
def test_every_shared_beeline_folder_loads():
    folders = sorted(p.parent for p in BEELINE.glob("*/*/*/ExpressionData.csv"))
    assert len(folders) >= 50
    for folder in folders:
        adata = load_beeline(folder)
        assert adata.n_obs > 0 and len(adata.uns["ground_truth"]) > 0


def test_pseudotime_column_is_scaled_per_trajectory():
    import anndata as ad

    obs = pd.DataFrame({"pseudotime_0": [0.0, 5.0, np.nan], "pseudotime_1": [np.nan, np.nan, 2.0]},
                       index=["a", "b", "c"])
    adata = ad.AnnData(np.ones((3, 2), dtype=np.float32), obs=obs, var=pd.DataFrame(index=["g1", "g2"]))
    extended = with_pseudotime(adata)
    assert list(extended.var_names) == ["g1", "g2", PSEUDOTIME]
    np.testing.assert_allclose(extended.X[:, -1], [0.0, 1.0, 1.0])
    with pytest.raises(InputError, match="pseudotime requested"):
        with_pseudotime(ad.AnnData(adata.X, var=adata.var))
