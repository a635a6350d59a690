"""The Lightning module: masked expression modelling with the diagram-built GRN transformer.

A checkpoint carries, beside the weights, what applying the model to new cells needs (`TrainedOn`): its
genes in token order, how their expression was preprocessed and standardised, and the regulators its
network was read for (grn.load_model)."""
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch

from grn.model.transformer import GRNTransformer


@dataclass
class TrainedOn:
    """The data a model was trained on, as much as new cells need to be fed to it the same way: the genes
    (token i is genes[i]), the preprocessing (normalize_total: the per-cell total counts were scaled to, or
    None; log1p), each gene's training mean and deviation after it (the standardisation), the fraction of
    genes hidden per cell in training, and the regulators read out (None: every gene)."""
    genes: list[str]
    mean: np.ndarray
    std: np.ndarray
    normalize_total: float | None
    log1p: bool
    mask_fraction: float
    regulators: list[str] | None = None

    def to_checkpoint(self) -> dict:
        """Plain types and tensors only, so that torch.load(weights_only=True) reads it back."""
        return {**vars(self), "mean": torch.as_tensor(self.mean), "std": torch.as_tensor(self.std)}

    @classmethod
    def from_checkpoint(cls, saved: dict) -> "TrainedOn":
        return cls(**{**saved, "mean": saved["mean"].numpy(), "std": saved["std"].numpy()})


class GRNModule(L.LightningModule):
    """Predicts the hidden genes' standardised values from the visible genes of the same cell.

    With the gene coupling and `coupling_first_steps` > 0, the coupling trains alone for those steps and is then
    frozen, so that the attention learns only what the linear coupling leaves unexplained."""

    def __init__(self, n_genes: int, width: int = 64, heads: int = 4, depth: int = 2, mlp_ratio: int = 2,
                 normaliser: str = "l2", dropout: float = 0.0, lr: float = 3e-3, weight_decay: float = 0.01,
                 gene_coupling: bool = False, coupling_l2: float = 10.0, coupling_first_steps: int = 0,
                 trained_on: TrainedOn | None = None):
        super().__init__()
        if coupling_first_steps and not gene_coupling:
            raise ValueError("coupling_first_steps needs gene_coupling=true: there is no coupling to train first")
        self.save_hyperparameters(ignore=["trained_on"])  # thousands of genes: kept out of the loggers' config
        self.model = GRNTransformer(n_genes, width, heads, depth, mlp_ratio, normaliser, dropout, gene_coupling)
        self.trained_on = trained_on

    def on_save_checkpoint(self, checkpoint):
        if self.trained_on is not None:
            checkpoint["trained_on"] = self.trained_on.to_checkpoint()

    def on_load_checkpoint(self, checkpoint):
        if "trained_on" in checkpoint:
            self.trained_on = TrainedOn.from_checkpoint(checkpoint["trained_on"])

    def forward(self, gene_ids, values, hidden, key_padding_mask=None):
        return self.model(gene_ids, values, hidden, key_padding_mask)

    def _masked_loss(self, batch, coupling_only: bool = False):
        gene_ids, values, hidden = batch[:3]
        key_padding_mask = batch[3] if len(batch) > 3 else None
        predicted = self.model(gene_ids, values, hidden, key_padding_mask, coupling_only=coupling_only)
        scored = hidden if key_padding_mask is None else hidden & key_padding_mask
        return torch.nn.functional.mse_loss(predicted[scored].float(), values[scored].float())

    def _coupling_penalty(self):
        """Ridge on the gene coupling, scaled so that each target's column is a ridge regression with
        strength coupling_l2 on standardised values (the masked loss averages over the targets)."""
        weight = self.model.coupling.weight
        return self.hparams.coupling_l2 * weight.pow(2).sum() / weight.shape[0]

    def _coupling_alone(self) -> bool:
        return self.global_step < self.hparams.coupling_first_steps

    def on_train_batch_start(self, batch, batch_idx):
        if self.hparams.coupling_first_steps:  # set every step, so that a resumed run lands in the right phase
            self.model.coupling.weight.requires_grad_(self._coupling_alone())

    def training_step(self, batch, batch_idx):
        loss = self._masked_loss(batch, coupling_only=self._coupling_alone())
        self.log("train/loss", loss, prog_bar=True, batch_size=batch[0].shape[0])
        if self.model.coupling is not None:
            loss = loss + self._coupling_penalty()
        return loss

    def validation_step(self, batch, batch_idx):
        loss = self._masked_loss(batch)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=batch[0].shape[0])

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        steps = max(1, self.trainer.estimated_stepping_batches)
        # OneCycleLR divides by pct_start * steps - 1, which is zero at exactly 10 steps.
        pct_start = 0.2 if float(0.1 * steps) == 1.0 else 0.1
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.hparams.lr, total_steps=steps,
                                                       pct_start=pct_start)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
