"""The Lightning module: masked expression modelling with the diagram-built GRN transformer."""
import lightning as L
import torch

from grn.model.transformer import GRNTransformer


class GRNModule(L.LightningModule):
    """Predicts the hidden genes' standardised values from the visible genes of the same cell."""

    def __init__(self, n_genes: int, width: int = 64, heads: int = 4, depth: int = 2, mlp_ratio: int = 2,
                 normaliser: str = "l2", dropout: float = 0.0, lr: float = 3e-3, weight_decay: float = 0.01):
        super().__init__()
        self.save_hyperparameters()
        self.model = GRNTransformer(n_genes, width, heads, depth, mlp_ratio, normaliser, dropout)

    def forward(self, gene_ids, values, hidden, key_padding_mask=None):
        return self.model(gene_ids, values, hidden, key_padding_mask)

    def _masked_loss(self, batch):
        gene_ids, values, hidden = batch[:3]
        key_padding_mask = batch[3] if len(batch) > 3 else None
        predicted = self(gene_ids, values, hidden, key_padding_mask)
        scored = hidden if key_padding_mask is None else hidden & key_padding_mask
        return torch.nn.functional.mse_loss(predicted[scored].float(), values[scored].float())

    def training_step(self, batch, batch_idx):
        loss = self._masked_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch[0].shape[0])
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
