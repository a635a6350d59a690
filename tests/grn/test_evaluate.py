"""`python -m grn.evaluate` on a tiny fake BEELINE folder: outputs, scores, tables, resume."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import grn.evaluate as evaluate_module
from grn.errors import InputError
from grn.evaluate import COLUMNS, evaluate, find_datasets
from grn.scoring.metrics import score_network
from hydra_configs import compose_entry
from wandb_records import logged_values

TRUTH = [("G0", "G1", "+"), ("G1", "G2", "-"), ("G0", "G3", "+"), ("G3", "G4", "+"), ("G2", "G5", "-")]


def write_dataset(folder: Path, seed: int, n_cells: int = 60):
    """A BEELINE-style folder: expression driven by TRUTH along a pseudotime, truth, one peer."""
    rng = np.random.default_rng(seed)
    time = rng.uniform(0, 1, n_cells)
    x = {"G0": 2 * time + 0.1 * rng.random(n_cells)}
    for regulator, target, sign in TRUTH:
        drive = x[regulator] if sign == "+" else 2.5 - x[regulator]
        x[target] = np.clip(drive + 0.2 * rng.standard_normal(n_cells), 0, None)
    cells = [f"c{i}" for i in range(n_cells)]
    folder.mkdir(parents=True)
    pd.DataFrame(x, index=cells).T.to_csv(folder / "ExpressionData.csv")
    pd.DataFrame({"PseudoTime": time}, index=cells).to_csv(folder / "PseudoTime.csv")
    pd.DataFrame(TRUTH + TRUTH[:1], columns=["Gene1", "Gene2", "Type"]).to_csv(folder / "refNetwork.csv", index=False)
    (folder / "peers").mkdir()
    pd.DataFrame({"Gene1": ["G0", "G3"], "Gene2": ["G1", "G1"], "EdgeWeight": [0.9, 0.2]}).to_csv(
        folder / "peers" / "PEER.csv", sep="\t", index=False)


@pytest.fixture
def data_root(tmp_path):
    root = tmp_path / "beeline"
    write_dataset(root / "curated" / "FAM" / "FAM_2000_0", seed=0)
    write_dataset(root / "synthetic" / "dyn-X" / "dyn-X_2000_0", seed=1)
    return root


def tiny(tmp_path, data_root, *overrides):
    return compose_entry("evaluate", f"data_root={data_root}", f"out={tmp_path / 'out'}", "trainer.max_epochs=2",
                            "model.width=8", "model.heads=2", "model.depth=1", "readout.max_cells=20",
                            "baselines=[pearson,partial_corr]", *overrides)


def test_evaluate_writes_edges_scores_tables_figures_and_wandb_run(tmp_path, data_root):
    results = evaluate(tiny(tmp_path, data_root))
    out = tmp_path / "out"
    table = pd.read_csv(out / "results.csv")
    assert list(table.columns) == COLUMNS
    methods = ["spherical", "softmax", "pearson", "partial_corr", "peer:PEER"]
    assert sorted(table["method"]) == sorted(methods * 2)
    assert set(table["family"]) == {"FAM", "dyn-X"} and set(table["group"]) == {"curated", "synthetic"}
    pd.testing.assert_frame_equal(table, results.reset_index(drop=True), check_dtype=False)
    for dataset in ("FAM_2000_0", "dyn-X_2000_0"):
        truth = pd.read_csv(data_root.glob(f"*/*/{dataset}").__next__() / "refNetwork.csv")
        for method in methods[:4]:
            edges = pd.read_csv(out / dataset / f"{method}.csv", sep="\t")
            assert list(edges.columns) == ["Gene1", "Gene2", "EdgeWeight"] and len(edges) == 6 * 5
            assert (edges["EdgeWeight"].abs().diff().dropna() <= 0).all()  # ranked by |weight|
            row = table[(table["dataset"] == dataset) & (table["method"] == method)].iloc[0]
            assert row["auprc_ratio"] == pytest.approx(score_network(edges, truth)["auprc_ratio"])
    peer = table[(table["dataset"] == "FAM_2000_0") & (table["method"] == "peer:PEER")].iloc[0]
    # the peer predicts only G0->G1 (true) and G3->G1 (false): precision 1/2 over density 5/30
    assert peer["epr"] == pytest.approx((1 / 2) / (5 / 30))
    summary = (out / "summary.md").read_text()
    assert "| method | FAM | dyn-X |" in summary
    median = table[(table["family"] == "FAM") & (table["method"] == "pearson")]["auprc_ratio"].median()
    assert f"| pearson | {median:.2f} |" in summary
    for name in ("FAM_pr_curve.png", "FAM_network.png", "dyn-X_pr_curve.png", "dyn-X_network.png"):
        assert (out / "figures" / name).stat().st_size > 0
    runs = list((out / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1
    logged = logged_values(runs[0])
    assert logged["median_auprc_ratio/FAM/pearson"] == pytest.approx(median)


def test_resume_skips_finished_datasets(tmp_path, data_root, monkeypatch):
    cfg = tiny(tmp_path, data_root, "wandb.enabled=false")
    evaluate(cfg)
    out = tmp_path / "out"
    finished = (out / "FAM_2000_0" / "spherical.csv").stat().st_mtime_ns
    (out / "dyn-X_2000_0" / "scores.csv").unlink()  # as if interrupted before dyn-X finished
    trained = []
    original = evaluate_module.run
    monkeypatch.setattr(evaluate_module, "run",
                        lambda settings, data: trained.append(data.uns["name"]) or original(settings, data=data))
    results = evaluate(cfg)
    assert trained == ["dyn-X_2000_0", "dyn-X_2000_0"]  # spherical and softmax, dyn-X only
    assert (out / "FAM_2000_0" / "spherical.csv").stat().st_mtime_ns == finished
    assert len(results) == 10 and (out / "dyn-X_2000_0" / "scores.csv").exists()


def test_group_settings_override_the_shared_ones(tmp_path, data_root):
    cfg = tiny(tmp_path, data_root, "+groups.curated.model.width=16")
    assert evaluate_module.group_settings(cfg, "curated").model.width == 16
    assert evaluate_module.group_settings(cfg, "synthetic").model.width == 8
    assert evaluate_module.group_settings(cfg, "synthetic").readout.per_regulator


def test_bad_data_root_is_named(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        find_datasets(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no dataset matching"):
        find_datasets(tmp_path / "empty")


def test_attention_read_out_option(tmp_path, data_root):
    cfg = tiny(tmp_path, data_root, "wandb.enabled=false", "readout.method=attention", "readout.mode=raw",
               "datasets=FAM*", "baselines=[]", "peers=false")
    results = evaluate(cfg)
    assert sorted(results["method"]) == ["softmax", "spherical"]
    spherical = pd.read_csv(tmp_path / "out" / "FAM_2000_0" / "spherical.csv", sep="\t")
    softmax = pd.read_csv(tmp_path / "out" / "FAM_2000_0" / "softmax.csv", sep="\t")
    assert (spherical["EdgeWeight"] < 0).any() and (softmax["EdgeWeight"] > 0).all()  # signed vs positive weights


def test_refine_null_turns_the_step_off_for_every_group(tmp_path, data_root):
    cfg = tiny(tmp_path, data_root, "refine=null")
    assert cfg.groups.synthetic.refine.orient.pooling == "max"  # a group that would change it
    for group in ("curated", "synthetic", "simulated"):
        assert evaluate_module.group_settings(cfg, group).refine is None


def test_curated_averages_three_seeds_and_hides_half_the_genes(tmp_path, data_root):
    cfg = tiny(tmp_path, data_root)
    groups = ("curated", "synthetic", "simulated")
    assert [evaluate_module.group_settings(cfg, g).n_seeds for g in groups] == [3, 1, 1]
    assert [evaluate_module.group_settings(cfg, g).data.loader.mask_fraction for g in groups] == [0.5, 0.25, 0.25]
    assert evaluate_module.group_settings(cfg, "curated").refine.symmetrise is True
    assert evaluate_module.group_settings(cfg, "synthetic").refine.symmetrise is False
