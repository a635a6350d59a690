"""readout.method=auto: the knockout when its forward-pass tokens per read-out cell fit AUTO_KNOCKOUT_TOKENS.
The cost model is checked against the tokens the read-out really feeds the model."""
import anndata as ad
import numpy as np
import pytest
from omegaconf import OmegaConf

from grn.data.datamodule import ExpressionDataModule
from grn.model.module import GRNModule
from grn.readout.network import AUTO_KNOCKOUT_TOKENS, knockout_tokens, read_network, resolve


def readout(**settings):
    return OmegaConf.create({"method": "auto", "mode": "auto", "n_masks": 4, "per_regulator": False, "step": 1.0,
                             "max_cells": None, "batch_size": 64, **settings})


@pytest.mark.parametrize("n_genes, n_regulators, method", [
    (64, None, "knockout"), (65, None, "attention"),  # every gene a regulator: the former 64-gene rule
    (765, 173, "knockout"), (765, 174, "attention"),  # 4 masks x (1 + TFs) passes of 765 tokens
    (2000, 65, "knockout"), (2000, 66, "attention"),
])
def test_auto_picks_the_knockout_within_the_budget(n_genes, n_regulators, method):
    assert AUTO_KNOCKOUT_TOKENS == 2 * 64 * 65 * 64
    assert resolve(readout(), n_genes, n_regulators)[0] == method


def test_fewer_masks_buy_more_regulators():
    assert resolve(readout(), 765, 300)[0] == "attention"
    assert resolve(readout(n_masks=2), 765, 300)[0] == "knockout"  # 2 x 301 x 765 = 460,530 tokens


class CountingTokens:
    """A model wrapper that counts the tokens of every forward pass."""

    def __init__(self, model):
        self.model, self.tokens = model, 0

    def parameters(self):
        return self.model.parameters()

    def __getattr__(self, name):
        return getattr(self.model, name)

    def __call__(self, gene_ids, values, hidden, key_padding_mask=None):
        self.tokens += values.numel()
        return self.model(gene_ids, values, hidden, key_padding_mask)


@pytest.mark.parametrize("n_genes, regulators, mode", [(6, None, "abs"), (6, None, "mean"), (10, [1, 4, 7], "abs")])
def test_knockout_tokens_is_what_the_read_out_feeds_the_model(n_genes, regulators, mode, reference_attention):
    cells = 5
    adata = ad.AnnData(np.random.default_rng(0).poisson(2.0, (2 * cells, n_genes)).astype(np.float32))
    datamodule = ExpressionDataModule(adata, val_fraction=0.5)
    model = CountingTokens(GRNModule(n_genes, width=16, heads=2, depth=1).model)
    settings = readout(method="knockout", mode=mode, max_cells=cells, batch_size=2)
    read_network(model, datamodule, settings, seed=0, regulators=regulators)
    n_regulators = None if regulators is None else len(regulators)
    assert model.tokens == cells * knockout_tokens(settings, n_genes, n_regulators)
