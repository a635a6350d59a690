"""Per-cell gene sets: a cell as the tokens of the genes it expresses, padded per batch.

As scGPT feeds only a cell's non-zero genes, each cell here is the sequence of its expressed genes
(gene id, standardised value), so lengths differ between cells. `pad_cells` pads a batch to its
longest cell and returns the key padding mask (True = real gene) with which FlashSign, and SDPA on
the SoftMax path, leave the padding out. A sparse matrix stays sparse: one CSR row is read per cell.
Values are standardised with the same per-gene mean and deviation as the dense pipeline, so a gene
carries the same token value in both; the two differ only in which tokens a cell shows.
"""
import numpy as np
import scipy.sparse as sp
import torch
from torch.nn.utils.rnn import pad_sequence

from grn.datamodule import CellDataset


class ExpressedGenesDataset(CellDataset):
    """Rows of an AnnData as (expressed gene ids, standardised values, hidden), variable length.
    Cells that express none of the genes carry no tokens and are left out."""

    def __init__(self, X, mean, std, mask_fraction: float, fixed_masks_seed: int | None = None):
        super().__init__(X, mean, std, mask_fraction, fixed_masks_seed)
        self.cells = np.flatnonzero(np.asarray((X != 0).sum(axis=1)).ravel())

    def __len__(self):
        return len(self.cells)

    def __getitem__(self, index):
        cell = int(self.cells[index])
        if sp.issparse(self.X):
            row = self.X[cell]
            genes, raw = row.indices, row.data
            genes, raw = genes[raw != 0], raw[raw != 0]  # explicitly stored zeros are not expressed
        else:
            row = np.asarray(self.X[cell]).ravel()
            genes = np.flatnonzero(row)
            raw = row[genes]
        order = np.argsort(genes)
        genes, raw = genes[order], raw[order]
        values = torch.from_numpy(((raw - self.mean[genes]) / self.std[genes]).astype(np.float32))
        return torch.from_numpy(genes.astype(np.int64)), values, self._hidden(len(genes), cell)


def pad_cells(cells):
    """Collate variable-length cells: (gene_ids, values, hidden, key_padding_mask), each (B, longest).
    Padding carries gene id 0, value 0 and is never hidden; the mask marks it False."""
    gene_ids, values, hidden = zip(*cells)
    lengths = torch.tensor([len(genes) for genes in gene_ids])
    key_padding_mask = torch.arange(int(lengths.max()))[None, :] < lengths[:, None]
    return (pad_sequence(gene_ids, batch_first=True), pad_sequence(values, batch_first=True),
            pad_sequence(hidden, batch_first=True), key_padding_mask)
