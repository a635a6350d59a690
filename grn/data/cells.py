"""Cells as token sequences: each cell a sequence of gene tokens (gene id, standardised value), a fraction
of them hidden from the model, for masked expression modelling.

Two views of a cell. `CellDataset` gives every gene. `ExpressedGenesDataset` gives, as scGPT feeds only
a cell's non-zero genes, the sequence of its expressed genes, so lengths differ between cells;
`pad_cells` pads a batch to its longest cell and returns the key padding mask (True = real gene) with
which FlashSign, and SDPA on the SoftMax path, leave the padding out. A sparse matrix stays sparse: one
CSR row is read per cell. Both standardise with the same per-gene mean and deviation, so a gene carries
the same token value in both; they differ only in which tokens a cell shows.

`always_hidden` (one flag per gene) marks genes hidden in every cell: with a TF list and
`context: regulators`, every non-regulator is a target predicted from the regulators alone, and the random
mask hides a fraction of the regulators too, so that each regulator is also predicted from the others.
"""
import numpy as np
import scipy.sparse as sp
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset


class CellDataset(Dataset):
    """Rows of an AnnData as (gene ids, standardised values, hidden) token sequences."""

    def __init__(self, X, mean, std, mask_fraction: float, fixed_masks_seed: int | None = None,
                 always_hidden=None):
        self.X, self.mean, self.std = X, mean, std
        self.mask_fraction = mask_fraction
        self.fixed_masks_seed = fixed_masks_seed  # None: fresh masks every time a cell is drawn
        self.always_hidden = None if always_hidden is None else torch.as_tensor(always_hidden, dtype=torch.bool)

    def __len__(self):
        return self.X.shape[0]

    def __getitem__(self, index):
        row = self.X[index]
        row = row.toarray().ravel() if sp.issparse(row) else np.asarray(row).ravel()
        values = torch.from_numpy((row - self.mean) / self.std)
        genes = torch.arange(values.shape[0])
        return genes, values, self._hidden(genes, index)

    def _hidden(self, genes, index):
        """The always-hidden genes among `genes` (token gene ids), and a random mask_fraction of the others (at
        least one), fixed per cell if fixed_masks_seed."""
        generator = None
        if self.fixed_masks_seed is not None:
            generator = torch.Generator().manual_seed(self.fixed_masks_seed * 1_000_003 + int(index))
        return random_hidden(len(genes), self.mask_fraction, generator,
                             None if self.always_hidden is None else self.always_hidden[genes])



class ExpressedGenesDataset(CellDataset):
    """Rows of an AnnData as (expressed gene ids, standardised values, hidden), variable length.
    Cells that express none of the genes carry no tokens and are left out."""

    def __init__(self, X, mean, std, mask_fraction: float, fixed_masks_seed: int | None = None,
                 always_hidden=None):
        super().__init__(X, mean, std, mask_fraction, fixed_masks_seed, always_hidden)
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
        genes = torch.from_numpy(genes.astype(np.int64))
        return genes, values, self._hidden(genes, cell)


def random_hidden(n_tokens: int, mask_fraction: float, generator=None, always_hidden=None) -> torch.Tensor:
    """(n_tokens,) bool: the `always_hidden` tokens and a random mask_fraction (at least one) of the rest."""
    if always_hidden is None:
        always_hidden = torch.zeros(n_tokens, dtype=torch.bool)
    candidates = torch.nonzero(~always_hidden).ravel()
    hidden = always_hidden.clone()
    if len(candidates):
        n_hidden = max(1, round(mask_fraction * len(candidates)))
        hidden[candidates[torch.randperm(len(candidates), generator=generator)[:n_hidden]]] = True
    return hidden


def pad_cells(cells):
    """Collate variable-length cells: (gene_ids, values, hidden, key_padding_mask), each (B, longest).
    Padding carries gene id 0, value 0 and is never hidden; the mask marks it False."""
    gene_ids, values, hidden = zip(*cells)
    lengths = torch.tensor([len(genes) for genes in gene_ids])
    key_padding_mask = torch.arange(int(lengths.max()))[None, :] < lengths[:, None]
    return (pad_sequence(gene_ids, batch_first=True), pad_sequence(values, batch_first=True),
            pad_sequence(hidden, batch_first=True), key_padding_mask)


def cell_loader(X, mean, std, mask_fraction: float, expressed_only: bool, batch_size: int,
                fixed_masks_seed: int | None = None, shuffle: bool = False, num_workers: int = 0,
                always_hidden=None) -> DataLoader:
    """Batches of the cells (rows) of X, each cell as the model was trained on it: all genes, or its
    expressed genes only (padded per batch)."""
    kind, collate = (ExpressedGenesDataset, pad_cells) if expressed_only else (CellDataset, None)
    dataset = kind(X, mean, std, mask_fraction, fixed_masks_seed, always_hidden)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      collate_fn=collate, pin_memory=torch.cuda.is_available(),
                      persistent_workers=num_workers > 0)
