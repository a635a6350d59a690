"""`python -m grn.evaluate_real` end to end on a slice of a real dataset: every method's network written for
every regulator -> every gene, scored on every truth from the files, tables written, a rerun resumes."""
from pathlib import Path

import pandas as pd
import pytest

import grn.evaluate_real as evaluate_real_module
from grn.data.real import load_real
from grn.evaluate_real import COLUMNS, evaluate_real
from grn.scoring.metrics import score_real
from hydra_configs import compose_entry

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "beeline"
needs_real_data = pytest.mark.skipif(not REAL.is_dir(), reason="shared real data not beside the repository")


@needs_real_data
def test_a_slice_of_mhsc_runs_end_to_end_and_resumes(tmp_path, reference_attention, monkeypatch):
    out = tmp_path / "out"
    cfg = compose_entry("evaluate_real", f"data_root={REAL}", f"out={out}", "datasets=mHSC-GM*", "max_genes=160",
                       "trainer.max_epochs=1", "model.width=16", "model.heads=1", "readout.max_cells=16",
                       "readout.n_masks=1", "peers=[pearson,spearman]", "wandb.enabled=false")
    results = evaluate_real(cfg)
    folder = out / "mHSC-GM_TFs500"
    data = load_real(REAL / "mHSC-GM_TFs500")
    assert set(results["truth"]) == set(data.uns["truths"]) and list(results.columns) == COLUMNS
    assert set(results["method"]) == {"spherical", "softmax", "pearson", "spearman"}
    for method in ("spherical", "softmax", "pearson"):
        network = pd.read_csv(folder / f"{method}.tsv", sep="\t")
        assert list(network.columns) == ["source", "target", "weight"]
        sources, targets = network["source"].nunique(), network["target"].nunique()
        assert len(network) == sources * (targets - 1)  # every regulator -> every other gene (regulators are genes)
        assert not (network["source"] == network["target"]).any()
    genes = sorted(set(pd.read_csv(folder / "pearson.tsv", sep="\t")["target"]))
    row = results[(results["method"] == "pearson") & (results["truth"] == "string")].iloc[0]
    truth = data.uns["truths"]["string"]
    expected = score_real(pd.read_csv(folder / "pearson.tsv", sep="\t"),
                          truth[truth["Gene1"].isin(genes) & truth["Gene2"].isin(genes)], genes)
    assert row["auprc_ratio"] == pytest.approx(expected["auprc_ratio"]) and row["epr"] == pytest.approx(expected["epr"])
    assert "| mHSC-GM_TFs500 | celltype_chip |" in (out / "summary.md").read_text()
    assert (out / "results.csv").exists()

    trained = []
    monkeypatch.setattr(evaluate_real_module, "run", lambda *args, **kwargs: trained.append(1))
    again = evaluate_real(cfg)  # finished: read back, nothing trained
    assert trained == []
    pd.testing.assert_frame_equal(again, pd.read_csv(out / "results.csv"))  # the scores as first written


def test_sign_agreement_counts_the_top_edges_the_reference_signs():
    network = pd.DataFrame({"source": ["A", "A", "B", "C"], "target": ["B", "C", "C", "A"],
                            "weight": [-0.9, 0.8, 0.1, -0.5]})
    reference = pd.DataFrame({"source": ["A", "A", "C", "B"], "target": ["B", "C", "A", "C"], "sign": [-1, -1, -1, 1]})
    # top 3 by |weight|: A->B (-, agrees), A->C (+, disagrees), C->A (-, agrees); B->C is cut
    assert evaluate_real_module.sign_agreement(network, reference, top=3) == {"sign_acc": pytest.approx(2 / 3), "n_signed": 3}
    unsigned = network.assign(weight=network["weight"].abs())
    result = evaluate_real_module.sign_agreement(unsigned, reference, top=3)
    assert result["n_signed"] == 3 and result["sign_acc"] != result["sign_acc"]  # NaN: no sign to check


def test_the_sign_table_tells_a_value_no_signed_edge_an_unsigned_network_and_no_run_apart():
    rows = pd.DataFrame([
        ("hESC", "omnipath_signs", "ours", float("nan"), 0), ("hESC", "omnipath_signs", "pearson", 0.875, 8),
        ("hHep", "omnipath_signs", "pearson", 0.75, 4), ("hHep", "omnipath_signs", "genie3", float("nan"), 12),
        *[("hHep", "string", method, float("nan"), float("nan")) for method in ("ours", "pearson", "genie3")]],
        columns=["dataset", "truth", "method", "sign_acc", "n_signed"])
    rows = rows.assign(auprc_ratio=1.0, epr=1.0, auroc=0.5)
    table = evaluate_real_module.summary_markdown(rows).split("### Sign agreement")[1].splitlines()
    assert "| dataset | ours | pearson | genie3 |" in table
    assert "| hESC | no edge signed (0) | 0.88 (8) |  |" in table  # genie3 did not run on hESC
    assert "| hHep |  | 0.75 (4) | unsigned |" in table


@needs_real_data
def test_the_tables_keep_the_datasets_of_earlier_runs_into_the_same_out(tmp_path):
    """One dataset a run into one `out` (as on a CPU, a dataset at a time): results.csv and summary.md still hold
    every dataset, with the earlier one's scores as first written."""
    out = tmp_path / "out"

    def evaluate(dataset):
        return evaluate_real(compose_entry("evaluate_real", f"data_root={REAL}", f"out={out}", f"datasets={dataset}",
                                           "max_genes=120", "~models.spherical", "~models.softmax", "peers=[pearson]",
                                           "wandb.enabled=false"))

    first = evaluate("mDC_TFs500")
    both = evaluate("hHep_TFs500")
    assert set(both["dataset"]) == {"mDC_TFs500", "hHep_TFs500"}
    earlier = both[both["dataset"] == "mDC_TFs500"].reset_index(drop=True)
    # the same values; hHep's sign row (no regulator count) turns the joined n_regulators column to float
    pd.testing.assert_frame_equal(earlier, first, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), both)
    summary = (out / "summary.md").read_text()
    assert "| mDC_TFs500 | celltype_chip |" in summary and "| hHep_TFs500 | celltype_chip |" in summary
