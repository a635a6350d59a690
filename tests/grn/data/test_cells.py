"""Per-cell gene sets: expressed genes only, padded per batch, masked by the attention kernels."""
import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from grn.data.cells import CellDataset
from grn.data.datamodule import ExpressionDataModule
from grn.data.preprocess import PSEUDOTIME
from grn.errors import InputError
from grn.data.cells import ExpressedGenesDataset, pad_cells
from grn.model.transformer import GRNTransformer

DENSE = np.array([[0.0, 2.0, 0.0, 5.0, 1.0],
                  [0.0, 0.0, 0.0, 0.0, 0.0],  # expresses nothing: no tokens, left out
                  [3.0, 0.0, 4.0, 0.0, 0.0],
                  [1.0, 1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
MEAN = np.array([1.0, 0.75, 1.25, 1.5, 0.5], dtype=np.float32)
STD = np.array([2.0, 1.0, 0.5, 4.0, 1.0], dtype=np.float32)


@pytest.mark.parametrize("layout", ["csr", "dense"])
def test_a_cell_is_exactly_its_expressed_genes(layout):
    X = sp.csr_matrix(DENSE) if layout == "csr" else DENSE
    dataset = ExpressedGenesDataset(X, MEAN, STD, mask_fraction=0.5)
    assert len(dataset) == 3
    gene_ids, values, hidden = dataset[0]
    assert gene_ids.tolist() == [1, 3, 4]
    # By hand: (2 - 0.75) / 1, (5 - 1.5) / 4, (1 - 0.5) / 1.
    np.testing.assert_allclose(values.numpy(), [1.25, 0.875, 0.5], rtol=1e-6)
    assert hidden.dtype == torch.bool and int(hidden.sum()) == 2  # round(0.5 * 3), at least one
    gene_ids, values, _ = dataset[1]  # the third row: the empty second row is skipped
    assert gene_ids.tolist() == [0, 2]
    np.testing.assert_allclose(values.numpy(), [1.0, 5.5], rtol=1e-6)


def test_explicitly_stored_zeros_are_not_expressed():
    X = sp.csr_matrix(DENSE)
    X.data[X.data == 2.0] = 0.0  # cell 0's gene 1, still stored
    dataset = ExpressedGenesDataset(X, MEAN, STD, mask_fraction=0.5)
    assert dataset[0][0].tolist() == [3, 4]


def test_pad_cells_pads_to_the_longest_and_masks_the_padding():
    cells = [(torch.tensor([4, 7, 9]), torch.tensor([1.0, -2.0, 3.0]), torch.tensor([True, False, False])),
             (torch.tensor([2]), torch.tensor([0.5]), torch.tensor([True]))]
    gene_ids, values, hidden, mask = pad_cells(cells)
    assert gene_ids.tolist() == [[4, 7, 9], [2, 0, 0]]
    assert values.tolist() == [[1.0, -2.0, 3.0], [0.5, 0.0, 0.0]]
    assert hidden.tolist() == [[True, False, False], [True, False, False]]
    assert mask.tolist() == [[True, True, True], [True, False, False]]


def test_expressed_only_batches_carry_the_dense_pipelines_values():
    X = sp.random(60, 12, density=0.3, format="csr", random_state=1, dtype=np.float32) * 5
    dm = ExpressionDataModule(ad.AnnData(X=X), batch_size=8, val_fraction=0.2, expressed_only=True, seed=0)
    dense = CellDataset(X[dm.val_cells], dm.mean, dm.std, 0.25, fixed_masks_seed=0)
    first, second = (next(iter(dm.val_dataloader())) for _ in range(2))
    assert torch.equal(first[2], second[2])  # validation hides the same genes every epoch
    gene_ids, values, hidden, mask = first
    kept = np.flatnonzero(X[dm.val_cells].getnnz(axis=1) > 0)
    for row in range(gene_ids.shape[0]):
        dense_ids, dense_values, _ = dense[int(kept[row])]
        expressed = np.flatnonzero(X[dm.val_cells[kept[row]]].toarray().ravel())
        assert gene_ids[row][mask[row]].tolist() == expressed.tolist()
        np.testing.assert_allclose(values[row][mask[row]].numpy(), dense_values[expressed].numpy(), rtol=1e-6)
        assert not hidden[row][~mask[row]].any() and hidden[row][mask[row]].any()


@pytest.mark.parametrize("normaliser", ["l2", "softmax"])
def test_padding_leaves_each_cells_prediction_unchanged(normaliser):
    """A cell padded into a batch predicts exactly what it predicts alone: the key padding mask hides the
    padding from attention (FlashSign on the Triton interpreter for l2, SDPA for softmax)."""
    torch.manual_seed(0)
    model = GRNTransformer(n_genes=30, width=32, heads=2, depth=2, normaliser=normaliser).eval()
    generator = torch.Generator().manual_seed(1)
    cells = []
    for length in (13, 5, 9):
        gene_ids = torch.randperm(30, generator=generator)[:length]
        cells.append((gene_ids, torch.randn(length, generator=generator), torch.rand(length, generator=generator) < 0.3))
    gene_ids, values, hidden, mask = pad_cells(cells)
    values = values.masked_fill(~mask, 7.0)  # padding that leaked into attention would show
    with torch.no_grad():
        batched = model(gene_ids, values, hidden, mask)
        for row, (ids, vals, hid) in enumerate(cells):
            alone = model(ids[None], vals[None], hid[None])
            torch.testing.assert_close(batched[row, :len(ids)], alone[0], rtol=1e-4, atol=1e-5)


def test_regulator_context_hides_every_other_gene_and_a_fraction_of_the_regulators():
    """data.loader.context=regulators: each cell shows regulators only, and hides round(0.5 * 5) = 2 of its
    4 regulators and the pseudotime token (an input, drawn from like a regulator)."""
    X = np.random.default_rng(0).random((40, 9)).astype(np.float32)
    adata = ad.AnnData(X=X, var=pd.DataFrame(index=[f"g{i}" for i in range(8)] + [PSEUDOTIME]))
    regulators = [1, 4, 6, 7]
    dm = ExpressionDataModule(adata, batch_size=8, mask_fraction=0.5, seed=0, context="regulators",
                              regulators=regulators)
    for loader in (dm.train_dataloader(), dm.val_dataloader()):
        _, _, hidden = next(iter(loader))
        others = [gene for gene in range(8) if gene not in regulators]
        assert hidden[:, others].all()
        assert (hidden[:, regulators + [8]].sum(1) == 2).all()
    everything = ExpressionDataModule(adata, batch_size=8, mask_fraction=0.5, seed=0)  # context all: 5 of 9
    assert (next(iter(everything.train_dataloader()))[2].sum(1) == round(0.5 * 9)).all()


@pytest.mark.parametrize("options, message", [({"context": "tfs", "regulators": [0]}, "must be one of"),
                                              ({"context": "regulators"}, "needs a TF list")])
def test_bad_context_is_named(options, message):
    with pytest.raises(InputError, match=message):
        ExpressionDataModule(ad.AnnData(X=np.ones((10, 3), dtype=np.float32)), **options)
