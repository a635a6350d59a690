"""A preprocessed AnnData as a Lightning DataModule for masked expression modelling: a cell-level
train/validation split, genes standardised on the training cells. Validation cells hide the same genes
every epoch so that their loss is comparable across epochs.

`context` says which genes a cell shows the model: `all` (every gene but a random mask_fraction), or
`regulators` (given a TF list: every non-regulator always hidden, predicted from the regulators alone, as
GENIE3 regresses each target on the TFs; the random mask hides a mask_fraction of the regulators).
"""
import anndata as ad
import lightning as L
import numpy as np

from grn.data.cells import cell_loader
from grn.data.preprocess import PSEUDOTIME, gene_standardisation
from grn.errors import InputError

CONTEXTS = ("all", "regulators")


class ExpressionDataModule(L.LightningDataModule):
    """Cell-level train/validation split of a preprocessed AnnData."""

    def __init__(self, adata: ad.AnnData, batch_size: int = 64, val_fraction: float = 0.1,
                 mask_fraction: float = 0.25, seed: int = 0, num_workers: int = 0, expressed_only: bool = False,
                 context: str = "all", regulators=None):
        super().__init__()
        if context not in CONTEXTS:
            raise InputError(f"data.loader.context must be one of {CONTEXTS}, got {context!r}")
        if context == "regulators" and not regulators:
            raise InputError("data.loader.context=regulators needs a TF list (readout.regulators)")
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
        self.context = context
        self.always_hidden = None  # genes hidden in every cell: the non-regulators, in the regulators context
        if context == "regulators":
            self.always_hidden = np.ones(adata.n_vars, dtype=bool)
            self.always_hidden[list(regulators)] = False
            self.always_hidden[adata.var_names == PSEUDOTIME] = False  # an input, never a target

    @property
    def n_genes(self) -> int:
        return len(self.genes)

    def _loader(self, cells, shuffle, fixed_masks_seed):
        return cell_loader(self.adata.X[cells], self.mean, self.std, self.mask_fraction, self.expressed_only,
                           self.batch_size, fixed_masks_seed, shuffle=shuffle, num_workers=self.num_workers,
                           always_hidden=self.always_hidden)

    def train_dataloader(self):
        return self._loader(self.train_cells, shuffle=True, fixed_masks_seed=None)

    def val_dataloader(self):
        return self._loader(self.val_cells, shuffle=False, fixed_masks_seed=self.seed)
