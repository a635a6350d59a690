"""Cells as token sequences for masked expression modelling, in a Lightning DataModule.

Each cell is a sequence of gene tokens (gene id, standardised value). A fraction of each cell's genes is
hidden from the model and predicted from the others. Validation cells hide the same genes every epoch
so that their loss is comparable across epochs.
"""
import anndata as ad
import lightning as L
import numpy as np
import scipy.sparse as sp
import torch
from torch.utils.data import DataLoader, Dataset

from grn.errors import InputError
from grn.preprocess import gene_standardisation


class CellDataset(Dataset):
    """Rows of an AnnData as (gene ids, standardised values, hidden) token sequences."""

    def __init__(self, X, mean, std, mask_fraction: float, fixed_masks_seed: int | None = None):
        self.X, self.mean, self.std = X, mean, std
        self.mask_fraction = mask_fraction
        self.fixed_masks_seed = fixed_masks_seed  # None: fresh masks every time a cell is drawn

    def __len__(self):
        return self.X.shape[0]

    def __getitem__(self, index):
        row = self.X[index]
        row = row.toarray().ravel() if sp.issparse(row) else np.asarray(row).ravel()
        values = torch.from_numpy((row - self.mean) / self.std)
        return torch.arange(values.shape[0]), values, self._hidden(values.shape[0], index)

    def _hidden(self, n_genes, index):
        """A random mask_fraction of the n_genes tokens (at least one), fixed per cell if fixed_masks_seed."""
        generator = None
        if self.fixed_masks_seed is not None:
            generator = torch.Generator().manual_seed(self.fixed_masks_seed * 1_000_003 + int(index))
        n_hidden = max(1, round(self.mask_fraction * n_genes))
        hidden = torch.zeros(n_genes, dtype=torch.bool)
        hidden[torch.randperm(n_genes, generator=generator)[:n_hidden]] = True
        return hidden


class ExpressionDataModule(L.LightningDataModule):
    """Cell-level train/validation split of a preprocessed AnnData."""

    def __init__(self, adata: ad.AnnData, batch_size: int = 64, val_fraction: float = 0.1,
                 mask_fraction: float = 0.25, seed: int = 0, num_workers: int = 0, expressed_only: bool = False):
        super().__init__()
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        if not 0.0 < mask_fraction < 1.0:
            raise InputError(f"mask_fraction must lie in (0, 1), got {mask_fraction}")
        if not 0.0 < val_fraction < 1.0:
            raise InputError(f"val_fraction must lie in (0, 1), got {val_fraction}")
        n_val = max(1, round(val_fraction * adata.n_obs))
        if adata.n_obs - n_val < 1:
            raise InputError(f"need at least 2 cells for a train/validation split, got {adata.n_obs}")
        self.adata = adata
        self.genes = list(adata.var_names)
        self.batch_size, self.mask_fraction, self.seed = batch_size, mask_fraction, seed
        self.num_workers = num_workers
        self.expressed_only = expressed_only  # True: each cell's expressed genes only, padded per batch
        order = np.random.default_rng(seed).permutation(adata.n_obs)
        self.val_cells, self.train_cells = np.sort(order[:n_val]), np.sort(order[n_val:])
        # Standardise with training cells only, so validation stays unseen.
        self.mean, self.std = gene_standardisation(adata[self.train_cells])

    @property
    def n_genes(self) -> int:
        return len(self.genes)

    def _loader(self, cells, shuffle, fixed_masks_seed):
        from grn.gene_sets import ExpressedGenesDataset, pad_cells  # it builds on CellDataset

        kind, collate = (ExpressedGenesDataset, pad_cells) if self.expressed_only else (CellDataset, None)
        dataset = kind(self.adata.X[cells], self.mean, self.std, self.mask_fraction, fixed_masks_seed)
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers,
                          collate_fn=collate, pin_memory=torch.cuda.is_available(),
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self):
        return self._loader(self.train_cells, shuffle=True, fixed_masks_seed=None)

    def val_dataloader(self):
        return self._loader(self.val_cells, shuffle=False, fixed_masks_seed=self.seed)
