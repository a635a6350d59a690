"""grn.readout.network.read_network: the read-out is deterministic and reads cells the way the model was trained."""
import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from omegaconf import OmegaConf

from grn.data.datamodule import ExpressionDataModule
from grn.model.transformer import GRNTransformer
from grn.errors import InputError
from grn.readout.network import check_readout, read_network, seed_average
from grn.readout.perturbation import masked_perturbation_effects


def readout(method):
    return OmegaConf.create(dict(method=method, mode="auto", per_regulator=False, step=1.0, max_cells=None,
                                 batch_size=8))


def test_read_out_is_deterministic_under_dropout_and_restores_training_mode(reference_attention):
    X = np.random.default_rng(0).gamma(2.0, 1.0, size=(24, 6)).astype(np.float32)
    datamodule = ExpressionDataModule(ad.AnnData(X=X), batch_size=8, seed=0)
    torch.manual_seed(0)
    model = GRNTransformer(6, width=16, heads=2, depth=1, dropout=0.5).train()
    for method in ("attention", "knockout"):
        first, second = (read_network(model, datamodule, readout(method), seed=0) for _ in range(2))
        np.testing.assert_array_equal(first, second)
        assert model.training


def test_expressed_only_read_out_skips_genes_a_cell_does_not_express(reference_attention):
    X = np.random.default_rng(1).gamma(2.0, 1.0, size=(24, 5)).astype(np.float32)
    X[:, 4] = 0.0  # never expressed: an expressed-only model never sees it, so it can carry no edge
    data = ad.AnnData(X=sp.csr_matrix(X))
    dense, expressed = (ExpressionDataModule(data, batch_size=8, seed=0, expressed_only=flag) for flag in (False, True))
    torch.manual_seed(0)
    model = GRNTransformer(5, width=16, heads=2, depth=1)
    weights = read_network(model, expressed, readout("attention"), seed=0)
    assert np.all(weights[4, :] == 0) and np.all(weights[:, 4] == 0)
    assert np.any(read_network(model, dense, readout("attention"), seed=0)[:, 4] != 0)


def test_seed_average_takes_the_mean_magnitude_and_the_majority_sign():
    runs = [np.array([[0.0, -2.0], [1.0, 0.5]]), np.array([[0.0, 1.0], [3.0, -0.5]]), np.array([[0.0, -3.0], [-2.0, 0.0]])]
    expected = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            votes = sum(int(r[i, j] > 0) - int(r[i, j] < 0) for r in runs)
            expected[i, j] = (1.0 if votes >= 0 else -1.0) * sum(abs(r[i, j]) for r in runs) / 3
    np.testing.assert_allclose(seed_average(runs), expected)  # [[0, -2], [2, 1/3]]
    np.testing.assert_allclose(seed_average(runs[:1]), runs[0])  # one seed: as read out


@pytest.mark.parametrize("method", ["knockout", "raise"])
def test_read_out_mask_fraction_replaces_trainings_in_the_regulator_perturbation(reference_attention, method):
    """readout.mask_fraction hides that fraction of genes per pass; null hides training's fraction. The raise
    read-out of listed regulators moves them by readout.step on the same masks."""
    X = np.random.default_rng(2).gamma(2.0, 1.0, size=(16, 8)).astype(np.float32)
    datamodule = ExpressionDataModule(ad.AnnData(X=X), batch_size=8, seed=0, mask_fraction=0.25)
    torch.manual_seed(0)
    model = GRNTransformer(8, width=16, heads=2, depth=1).eval()
    regulators = [0, 3]

    def read(**options):
        settings = OmegaConf.merge(readout(method), {"n_masks": 2, "step": 0.5, **options})
        return read_network(model, datamodule, settings, seed=0, regulators=regulators)

    def direct(fraction):
        cells = datamodule.adata.X[np.sort(np.random.default_rng(0).permutation(16))]
        values = torch.from_numpy((cells - datamodule.mean) / datamodule.std).float()
        loader = [(torch.arange(8).expand(8, 8), batch, torch.zeros(8, 8, dtype=torch.bool))
                  for batch in values.split(8)]  # the read-out's batches of readout.batch_size cells
        mean, magnitude = masked_perturbation_effects(model, loader, 8, regulators, fraction, method,
                                                      knockout_values=-datamodule.mean / datamodule.std, step=0.5,
                                                      n_masks=2, seed=0)
        return (magnitude * mean.sign()).numpy()

    np.testing.assert_allclose(read(mask_fraction=0.75)[:, regulators], direct(0.75), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(read()[:, regulators], direct(0.25), rtol=1e-6, atol=1e-7)
    assert not np.allclose(direct(0.75), direct(0.25))


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1, "half"])
def test_bad_read_out_mask_fraction_is_named_before_training(fraction):
    with pytest.raises(InputError, match="readout.mask_fraction must lie in"):
        check_readout(OmegaConf.merge(readout("knockout"), {"mask_fraction": fraction}), 8, 2)


def test_coupling_read_out_is_the_raise_read_out_of_a_model_that_is_only_the_coupling():
    """Without transformer blocks a gene's prediction takes other genes only through the coupling, so raising a
    visible regulator j by one standard deviation moves target i by exactly weight[j, i]: the raise read-out is
    the reference the coupling's weights must match, column for column, with the other columns 0."""
    X = np.random.default_rng(3).gamma(2.0, 1.0, size=(16, 6)).astype(np.float32)
    datamodule = ExpressionDataModule(ad.AnnData(X=X), batch_size=8, seed=0, mask_fraction=0.5)
    torch.manual_seed(0)
    model = GRNTransformer(6, width=16, heads=2, depth=0, gene_coupling=True).eval()
    with torch.no_grad():
        model.coupling.weight.normal_()
    regulators = [1, 4]
    options = {"n_masks": 2, "mode": "mean"}
    raised = read_network(model, datamodule, OmegaConf.merge(readout("raise"), options), seed=0, regulators=regulators)
    coupling = read_network(model, datamodule, readout("coupling"), seed=0, regulators=regulators)
    np.testing.assert_allclose(coupling, raised, rtol=1e-4, atol=1e-5)
    assert np.all(coupling[:, [0, 2, 3, 5]] == 0) and np.all(coupling[regulators, regulators] == 0)
    assert np.count_nonzero(coupling) == 2 * 5


def test_coupling_read_out_without_the_coupling_is_named_before_training():
    with pytest.raises(InputError, match="model.gene_coupling=true"):
        check_readout(readout("coupling"), 8, 2)
    check_readout(readout("coupling"), 8, 2, gene_coupling=True)
