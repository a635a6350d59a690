"""grn.infer, grn.load_model and grn.perturb on small AnnDatas: the same run core as train.py, checkpoints that
carry what new cells need, and perturbation shifts against a cell-by-cell computation with the model."""
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import torch

import grn
from grn.api import TrainedModel
from grn.data.datamodule import ExpressionDataModule
from grn.data.preprocess import preprocess
from grn.errors import InputError
from grn.model.module import GRNModule, TrainedOn
from grn.run import run
from hydra_configs import compose_train

TINY = ["trainer.max_epochs=1", "model.width=16", "model.heads=2", "model.depth=1", "readout.max_cells=32"]
GENES = [f"G{i}" for i in range(8)]
TFS = ["G1", "G3", "G6"]


def log_normalised(n_cells=120, seed=0):
    rng = np.random.default_rng(seed)
    return ad.AnnData(np.log1p(rng.gamma(2.0, 1.0, (n_cells, len(GENES)))).astype(np.float32),
                      var=pd.DataFrame(index=GENES))


def counts(n_cells=120, seed=0):
    rng = np.random.default_rng(seed)
    return ad.AnnData(rng.poisson(4.0, (n_cells, len(GENES))).astype(np.float32), var=pd.DataFrame(index=GENES))


def test_infer_is_the_run_core_and_writes_nothing(tmp_path, monkeypatch, reference_attention):
    """Signed TF -> target edges, ranked, in adata.uns; the same weights as train.py's config through grn.run.run;
    and without out= no file appears where it ran."""
    monkeypatch.chdir(tmp_path)
    adata = log_normalised()
    table = grn.infer(adata, tf_names=TFS, overrides=TINY)
    assert list(tmp_path.iterdir()) == []
    assert list(table.columns) == ["source", "target", "weight", "sign", "rank"]
    assert set(table["source"]) <= set(TFS) and (table["source"] != table["target"]).all()
    assert (np.diff(table["weight"].abs()) <= 0).all() and list(table["rank"]) == list(range(1, len(table) + 1))
    assert (table["sign"] == np.sign(table["weight"])).all()
    stored = adata.uns["grn"]
    pd.testing.assert_frame_equal(stored["edges"], table)
    assert stored["regulators"] == TFS and stored["genes"] == GENES and stored["method"] == "knockout (abs)"
    assert stored["settings"]["model"]["attention"]["normaliser"] == "l2"
    assert stored["settings"]["data"]["source"] == {"anndata": ".X", "counts": False}

    cfg = compose_train(tmp_path / "reference", "data=h5ad", "logger=none", "callbacks=none", "trainer=cpu",
                        "data.preprocess.min_genes=null", "data.preprocess.normalize_total=null",
                        "data.preprocess.log1p=false", "data.loader.num_workers=0", *TINY)
    cfg.readout.regulators = TFS
    network = run(cfg, data=preprocess(adata, **cfg.data.preprocess, keep_genes=TFS))
    expected = network.edges().set_index(["Gene1", "Gene2"])["EdgeWeight"]
    expected = expected[expected != 0]
    assert len(expected) == len(table)
    np.testing.assert_array_equal(table.set_index(["source", "target"])["weight"].loc[expected.index], expected)


def test_checkpoint_carries_genes_regulators_preprocessing_and_standardisation(tmp_path, reference_attention):
    """Counts are normalised and log1p-transformed; the checkpoint records that, the genes, the TFs and the
    training cells' standardisation, and load_model feeds new cells the same way, reordered by name."""
    adata = counts()
    grn.infer(adata, tf_names=TFS, overrides=TINY, out=tmp_path)
    assert adata.uns["grn"]["settings"]["data"]["preprocess"]["normalize_total"] == 10000
    model = grn.load_model(tmp_path)
    trained = model.trained_on
    assert model.genes == GENES and model.regulators == TFS
    assert (trained.normalize_total, trained.log1p, trained.mask_fraction) == (10000.0, True, 0.25)

    reference = adata.copy()
    sc.pp.normalize_total(reference, target_sum=1e4)
    sc.pp.log1p(reference)
    np.testing.assert_allclose(model.expression(adata), reference.X, rtol=1e-6)
    training = ExpressionDataModule(preprocess(adata, normalize_total=1e4, log1p=True), seed=0)
    np.testing.assert_array_equal(trained.mean, training.mean)
    np.testing.assert_array_equal(trained.std, training.std)

    shuffled = adata[:, GENES[::-1]].copy()
    np.testing.assert_array_equal(model.expression(shuffled), model.expression(adata))
    with pytest.raises(InputError, match=r"2 of the model's 8 genes .*\['G2', 'G5'\]"):
        model.expression(adata[:, [g for g in GENES if g not in ("G2", "G5")]].copy())
    with pytest.raises(InputError, match="trained on raw counts"):
        model.expression(log_normalised())


def test_load_model_errors(tmp_path):
    with pytest.raises(InputError, match="checkpoint not found"):
        grn.load_model(tmp_path / "missing.ckpt")
    for seed in (0, 1):
        (tmp_path / "checkpoints" / f"seed{seed}").mkdir(parents=True)
        (tmp_path / "checkpoints" / f"seed{seed}" / "last.ckpt").touch()
    with pytest.raises(InputError, match="expected one last.ckpt"):
        grn.load_model(tmp_path)
    bare = tmp_path / "bare.ckpt"
    torch.save({"state_dict": GRNModule(3, width=16, heads=2, depth=1).state_dict(), "pytorch-lightning_version": "2.6.0",
                "hyper_parameters": {"n_genes": 3, "width": 16, "heads": 2, "depth": 1}}, bare)
    with pytest.raises(InputError, match="no gene names or standardisation"):
        grn.load_model(bare)


def random_model(genes, mask_fraction, seed=0):
    """An untrained model: the shift is a property of whatever the weights are."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    trained_on = TrainedOn(list(genes), rng.uniform(0.5, 1.5, len(genes)).astype(np.float32),
                           rng.uniform(0.5, 2.0, len(genes)).astype(np.float32), None, False, mask_fraction)
    return TrainedModel(GRNModule(len(genes), width=16, heads=2, depth=1, trained_on=trained_on))


@pytest.mark.parametrize("genes, perturbation", [(GENES[:5], {"G1": 0.0}), (GENES[:6], {"G4": 0.0, "G0": 2.5})])
def test_perturb_matches_a_cell_by_cell_computation(genes, perturbation, reference_attention):
    """Four genes left free at mask fraction 0.25: each pass hides exactly one gene, so the shift of gene t
    in cell c is the model's prediction of t, hidden alone, from the perturbed cell minus from the cell."""
    model = random_model(genes, mask_fraction=0.25)
    adata = log_normalised(n_cells=10)
    adata = adata[:, ["G7", *genes[::-1]]].copy()  # another gene order, and a gene the model lacks
    shift = grn.perturb(model, adata, perturbation, batch_size=4)

    mean, std = model.trained_on.mean, model.trained_on.std
    x = np.array(adata[:, genes].X)
    before = torch.from_numpy((x - mean) / std)
    after = before.clone()
    for gene, level in perturbation.items():
        after[:, genes.index(gene)] = float((level - mean[genes.index(gene)]) / std[genes.index(gene)])
    expected = np.zeros_like(x)
    ids = torch.arange(len(genes))[None]
    with torch.no_grad():
        for c in range(len(x)):
            for t, gene in enumerate(genes):
                if gene in perturbation:
                    expected[c, t] = perturbation[gene] - x[c, t]
                    continue
                hidden = (torch.arange(len(genes)) == t)[None]
                change = model.module.model(ids, after[c:c + 1], hidden) - model.module.model(ids, before[c:c + 1], hidden)
                expected[c, t] = float(change[0, t]) * std[t]
    np.testing.assert_allclose(shift[genes].to_numpy(), expected, atol=1e-5)
    assert list(shift.index) == list(adata.obs_names)
    layer = pd.DataFrame(adata.layers["perturb_shift"], columns=adata.var_names)
    np.testing.assert_allclose(layer[genes].to_numpy(), expected, atol=1e-5)
    assert (layer["G7"] == 0).all()
    assert adata.uns["perturb_shift"]["perturbation"] == perturbation


def test_setting_an_unexpressed_gene_to_zero_shifts_nothing(reference_attention):
    """Several random masks and rounds: setting a gene to the level it already has changes no prediction."""
    model = random_model(GENES, mask_fraction=0.3)
    adata = log_normalised(n_cells=12)
    adata.X[:, GENES.index("G2")] = 0.0
    shift = grn.perturb(model, adata, {"G2": 0.0}, n_rounds=3)
    assert (shift.to_numpy() == 0).all()
    assert not (grn.perturb(model, adata, {"G2": 1.0}).drop(columns="G2").to_numpy() == 0).all()


def test_perturb_errors():
    model = random_model(GENES[:4], mask_fraction=0.25)
    with pytest.raises(InputError, match=r"not among the model's 4 genes: \['G7'\]"):
        grn.perturb(model, log_normalised(), {"G7": 0.0})
    with pytest.raises(InputError, match="not negative"):
        grn.perturb(model, log_normalised(), {"G1": -1.0})


def test_prior_keeps_only_its_edges_with_the_weights_read_out(tmp_path, reference_attention):
    """A prior's edges come back with the same weights as the TF-restricted run of its sources."""
    adata = log_normalised()
    prior = pd.DataFrame({"source": ["G1", "G1", "G3", "G3", "G9"], "target": ["G0", "G5", "G2", "G3", "G0"]})
    table = grn.infer(adata, prior=prior, overrides=TINY)
    assert set(zip(table["source"], table["target"])) == {("G1", "G0"), ("G1", "G5"), ("G3", "G2")}
    full = grn.infer(adata, tf_names=["G1", "G3", "G9"], overrides=TINY).set_index(["source", "target"])["weight"]
    np.testing.assert_array_equal(table["weight"], full.loc[list(zip(table["source"], table["target"]))])
    with pytest.raises(InputError, match="no edge of the prior"):
        grn.infer(adata, prior=pd.DataFrame({"source": ["X"], "target": ["G1"]}), overrides=TINY)


def test_the_coupling_experiment_returns_the_trained_coupling_from_infer(tmp_path, reference_attention):
    """overrides=["experiment=grn_coupling"] with readout left unset: the experiment's own read-out, the trained
    coupling's weights (regulator j's row, target i's column of the checkpoint's matrix), TF rows only."""
    adata = log_normalised()
    table = grn.infer(adata, tf_names=TFS, overrides=["experiment=grn_coupling", "trainer.max_epochs=2"],
                      out=tmp_path)
    assert adata.uns["grn"]["method"] == "coupling (raw)"
    assert json.loads((tmp_path / "metrics.json").read_text())["attention"] == "none"  # no block, so no attention
    model = grn.load_model(tmp_path)
    assert model.module.hparams.depth == 0 and model.module.hparams.coupling_l2 == 30.0
    weight = model.module.model.coupling.weight.detach().numpy()
    index = {gene: i for i, gene in enumerate(model.genes)}
    expected = [weight[index[source], index[target]] for source, target in zip(table["source"], table["target"])]
    np.testing.assert_allclose(table["weight"], expected, rtol=1e-6)
    assert set(table["source"]) == set(TFS) and len(table) == len(TFS) * (len(GENES) - 1)


def test_infer_argument_errors():
    adata = log_normalised()
    with pytest.raises(InputError, match="attention must be one of"):
        grn.infer(adata, attention="cosine")
    with pytest.raises(InputError, match="device must be one of"):
        grn.infer(adata, device="tpu")
    with pytest.raises(InputError, match=r"overrides set \['readout.method'\]"):
        grn.infer(adata, readout="knockout", overrides=["readout.method=attention"])
    scaled = adata.copy()
    sc.pp.scale(scaled)
    with pytest.raises(InputError, match=r"\.X holds negative values .* layer="):
        grn.infer(scaled)
    with pytest.raises(InputError, match="no layer 'counts'"):
        grn.infer(adata, layer="counts")


def test_raw_is_read_when_present():
    """scanpy keeps the unscaled values in .raw while .X is scaled: infer and perturb read .raw."""
    adata = log_normalised()
    adata.raw = adata.copy()
    sc.pp.scale(adata)
    model = random_model(GENES, mask_fraction=0.25)
    np.testing.assert_array_equal(model.expression(adata), adata.raw.X)
