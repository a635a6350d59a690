"""Configs compose; training runs end to end on CPU for both attentions; outputs and W&B runs are real."""
import json
from pathlib import Path

import pandas as pd
import pytest

from grn.data.loaders import load_krumsiek11
from grn.data.preprocess import preprocess
from grn.run import run
from hydra_configs import CONFIGS, compose_train
from wandb_records import logged_config, logged_values

EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(tmp_path, experiment):
    cfg = compose_train(tmp_path, f"experiment={experiment}", "data=beeline")
    assert cfg.model.attention.normaliser in ("l2", "softmax")
    assert cfg.data.source.path is None and cfg.data.source.name == "HSC_2000_0"


def test_experiments_differ_only_in_attention(tmp_path):
    spherical, softmax = (compose_train(tmp_path, f"experiment=grn_{name}") for name in ("spherical", "softmax"))
    assert spherical.model.attention.normaliser == "l2" and softmax.model.attention.normaliser == "softmax"
    spherical.model.attention = softmax.model.attention
    assert spherical == softmax


@pytest.mark.parametrize("experiment", ["grn_spherical", "grn_softmax"])
def test_fast_dev_run_trains_and_reads_out(tmp_path, experiment):
    """Without CUDA, spherical attention runs FlashSign on the Triton interpreter here."""
    cfg = compose_train(tmp_path, f"experiment={experiment}", "logger=none", "+trainer.fast_dev_run=true",
                        "model.width=16", "model.heads=2", "readout.method=attention")
    metrics = run(cfg).metrics
    network = pd.read_csv(tmp_path / "network.csv", sep="\t")
    assert list(network.columns) == ["Gene1", "Gene2", "EdgeWeight"]
    assert len(network) == 11 * 10 and (network["Gene1"] != network["Gene2"]).all()
    assert json.loads((tmp_path / "metrics.json").read_text())["auprc_ratio"] == pytest.approx(metrics["auprc_ratio"])
    if experiment == "grn_softmax":
        assert (network["EdgeWeight"] >= 0).all()


def test_short_run_writes_checkpoint_plots_and_offline_wandb_run(tmp_path, reference_attention):
    cfg = compose_train(tmp_path, "experiment=grn_spherical", "trainer.max_epochs=2", "model.width=16", "model.heads=2")
    metrics = run(cfg).metrics
    import wandb

    wandb.finish()
    for name in ("network.csv", "metrics.json", "checkpoints/last.ckpt", "pr_curve.png", "network_heatmap.png",
                 "model_diagram.png", "model_diagram.svg"):
        assert (tmp_path / name).stat().st_size > 0, name
    run_files = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(run_files) == 1
    logged = logged_values(run_files[0])
    assert logged["grn/auprc_ratio"] == pytest.approx(metrics["auprc_ratio"])
    assert logged["grn/epr"] == pytest.approx(metrics["epr"])
    assert "train/loss" in logged and "val/loss" in logged
    assert logged_config(run_files[0])["model"]["attention"]["normaliser"] == "l2"


def test_exactly_ten_training_steps(tmp_path, reference_attention):
    # 576 training cells in batches of 64 = 9 steps an epoch; 10 steps is where OneCycleLR's warm-up
    # phase would end at step 0 and divide by zero.
    cfg = compose_train(tmp_path, "logger=none", "model.width=16", "model.heads=2", "trainer.max_epochs=2",
                        "+trainer.max_steps=10", "readout.method=attention")
    assert run(cfg).metrics["auprc_ratio"] > 0


def test_a_tf_list_run_scores_its_regulators_against_every_gene(tmp_path, reference_attention):
    # krumsiek11: 11 genes; candidates are the two TFs x the 10 other genes, the true edges those from the two TFs
    tfs = ["Gata1", "Pu.1"]
    cfg = compose_train(tmp_path, "experiment=grn_spherical", "logger=none", "+trainer.fast_dev_run=true",
                        "model.width=16", "model.heads=2", f"readout.regulators={tfs}")
    network = run(cfg)
    # krumsiek11's rules: Gata1 -> Gata2, Fog1, EKLF, Fli1, SCL, Cebpa, Pu.1; Pu.1 -> Gata2, Gata1, SCL, cJun, EgrNab
    assert network.metrics["n_candidates"] == 2 * 10
    assert network.metrics["n_true_edges"] == 12


def test_a_tf_list_without_a_truth_edge_is_not_scored(tmp_path, reference_attention, caplog):
    cfg = compose_train(tmp_path, "experiment=grn_spherical", "logger=none", "+trainer.fast_dev_run=true",
                        "model.width=16", "model.heads=2", "readout.regulators=[Gata1]")
    data = load_krumsiek11()
    truth = data.uns["ground_truth"]
    data.uns["ground_truth"] = truth[truth["Gene1"] == "Gata2"]  # no edge from the listed TF
    network = run(cfg, data=preprocess(data, **cfg.data.preprocess))
    assert "auprc_ratio" not in network.metrics and network.metrics["n_regulators"] == 1
    assert "no ground-truth edge starts at a TF of the list" in caplog.text
