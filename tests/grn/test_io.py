"""Network files for downstream tools: BEELINE rankedEdges, decoupler's net, pySCENIC adjacencies and
Parquet are written as those tools read them, read back to one table, and bad files are named errors."""
import gzip

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import grn.run
from grn.errors import InputError
from grn.io import (as_network, read_edges, write_decoupler_net, write_parquet, write_pyscenic_adjacencies,
                    write_ranked_edges)
from hydra_configs import compose_train


@pytest.fixture
def ranked_edges():
    """A run's edge table: signed float64 weights over 24 orders of magnitude, a zero, a gene named NA."""
    rng = np.random.default_rng(0)
    weights = rng.normal(size=40) * 10.0 ** rng.integers(-12, 12, size=40)
    weights[7] = 0.0
    regulators = ["NA", "GATA1", "SPI1", "TAL1"] * 10
    targets = [f"g{i}" for i in range(40)]
    return pd.DataFrame({"Gene1": regulators, "Gene2": targets, "EdgeWeight": weights})


def uniform(edges):
    return pd.DataFrame({"source": edges["Gene1"], "target": edges["Gene2"], "weight": edges["EdgeWeight"]})


@pytest.mark.parametrize("write, name", [(write_ranked_edges, "network.csv"), (write_decoupler_net, "net.csv"),
                                         (write_decoupler_net, "net.tsv"), (write_decoupler_net, "net.csv.gz"),
                                         (write_pyscenic_adjacencies, "adj.tsv"),
                                         (write_pyscenic_adjacencies, "adj.csv"), (write_parquet, "network.parquet")])
def test_every_format_reads_back_exactly(tmp_path, ranked_edges, write, name):
    read = read_edges(write(ranked_edges, tmp_path / name))
    pd.testing.assert_frame_equal(read, uniform(ranked_edges), check_exact=True)


def test_ranked_edges_are_tab_separated_whatever_the_suffix(tmp_path, ranked_edges):
    lines = write_ranked_edges(ranked_edges, tmp_path / "network.csv").read_text().splitlines()
    assert lines[0] == "Gene1\tGene2\tEdgeWeight"
    regulator, target, weight = lines[1].split("\t")
    assert (regulator, target, float(weight)) == tuple(ranked_edges.iloc[0])


def test_decoupler_net_is_source_target_signed_weight(tmp_path, ranked_edges):
    net = pd.read_csv(write_decoupler_net(ranked_edges, tmp_path / "net.csv"), keep_default_na=False,
                      float_precision="round_trip")
    assert list(net.columns) == ["source", "target", "weight"]
    np.testing.assert_array_equal(net["weight"], ranked_edges["EdgeWeight"])
    tsv = write_decoupler_net(ranked_edges, tmp_path / "net.tsv").read_text().splitlines()[0]
    assert tsv == "source\ttarget\tweight"


def test_compressed_names_are_compressed(tmp_path, ranked_edges):
    path = write_decoupler_net(ranked_edges, tmp_path / "net.csv.gz")
    assert gzip.decompress(path.read_bytes()).decode().splitlines()[0] == "source,target,weight"


def test_pyscenic_adjacencies_carry_importance_and_regulation(tmp_path, ranked_edges):
    """As `pyscenic ctx` loads them: a .tsv is TAB-separated; importance is non-negative (GRNBoost2's)."""
    adjacencies = pd.read_csv(write_pyscenic_adjacencies(ranked_edges, tmp_path / "adj.tsv"), sep="\t",
                              keep_default_na=False, float_precision="round_trip")
    assert list(adjacencies.columns) == ["TF", "target", "importance", "regulation"]
    np.testing.assert_array_equal(adjacencies["importance"], ranked_edges["EdgeWeight"].abs())
    expected_sign = [1 if w > 0 else -1 if w < 0 else 0 for w in ranked_edges["EdgeWeight"]]
    assert adjacencies["regulation"].tolist() == expected_sign


def test_reads_files_other_tools_wrote(tmp_path):
    """GRNBoost2 adjacencies (no sign: importance is the weight) and a comma-separated decoupler net."""
    (tmp_path / "adj.csv").write_text("TF,target,importance\nSPI1,CD14,12.5\nGATA1,HBB,3.25\n")
    (tmp_path / "net.csv").write_text("source,target,weight,mor_source\nSPI1,CD14,-1,x\n")
    assert read_edges(tmp_path / "adj.csv").values.tolist() == [["SPI1", "CD14", 12.5], ["GATA1", "HBB", 3.25]]
    assert read_edges(tmp_path / "net.csv").values.tolist() == [["SPI1", "CD14", -1.0]]


def test_parquet_holds_the_uniform_columns(tmp_path, ranked_edges):
    schema = pq.read_schema(write_parquet(ranked_edges, tmp_path / "network.parquet"))
    assert schema.names == ["source", "target", "weight"] and str(schema.field("weight").type) == "double"


@pytest.mark.parametrize("content, message", [
    ("a\tb\tc\nx\ty\t1\n", r"columns \['a', 'b', 'c'\] match no network layout \(BEELINE rankedEdges: Gene1"),
    ("Gene1\tGene2\tEdgeWeight\nx\ty\t1\nx\tz\t\n", r"weight is missing or not a number in edge row\(s\) \[2\]"),
    ("source,target,weight\nx,y,strong\n", r"weight is missing or not a number in edge row\(s\) \[1\]"),
    ("TF,target,importance\nx,y,1\n ,z,2\n", r"no source gene name in edge row\(s\) \[2\]"),
    ("", "not a readable network table"),
])
def test_bad_network_files_are_named_errors(tmp_path, content, message):
    path = tmp_path / "network.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_edges(path)


def test_missing_and_corrupt_files_are_named_errors(tmp_path):
    with pytest.raises(InputError, match="network file not found"):
        read_edges(tmp_path / "absent.tsv")
    (tmp_path / "network.parquet").write_text("Gene1\tGene2\tEdgeWeight\n")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        read_edges(tmp_path / "network.parquet")


def test_as_network_keeps_other_layouts_rows_and_drops_extra_columns():
    table = pd.DataFrame({"source": ["a", "b"], "target": ["b", "a"], "weight": [0.5, -2.0], "sign": [1, -1],
                          "rank": [2, 1]})
    pd.testing.assert_frame_equal(as_network(table), table[["source", "target", "weight"]])


def test_decoupler_scores_tf_activities_from_our_net(tmp_path):
    """decoupler's univariate linear model (ulm) on a net we wrote: each cell's score is the t-value of
    the slope of its expression over the TF's signed weights (0 off-target), as scipy's regression gives;
    a TF whose targets move with its weights in half the cells is active there."""
    decoupler = pytest.importorskip("decoupler")
    import anndata as ad
    from scipy import stats

    rng = np.random.default_rng(1)
    genes = [f"g{i}" for i in range(40)]
    regulators = {"TF1": genes[:8], "TF2": genes[8:16]}
    edges = pd.DataFrame({"Gene1": [tf for tf, targets in regulators.items() for _ in targets],
                          "Gene2": sum(regulators.values(), []), "EdgeWeight": rng.choice([-1.0, 1.0], 16) *
                          rng.uniform(0.5, 2.0, 16)})
    tf1_weights = np.zeros(40)
    tf1_weights[:8] = edges["EdgeWeight"][:8]
    active = np.arange(12) < 6
    expression = rng.normal(scale=0.3, size=(12, 40)) + np.outer(np.where(active, 2.0, 0.0), tf1_weights)
    cells = ad.AnnData(expression, obs=pd.DataFrame(index=[f"c{i}" for i in range(12)]),
                       var=pd.DataFrame(index=genes))
    net = pd.read_csv(write_decoupler_net(edges, tmp_path / "net.csv"))  # as a decoupler user loads it
    decoupler.mt.ulm(cells, net, tmin=5)
    scores = cells.obsm["score_ulm"]
    for tf, targets in regulators.items():
        weights = pd.Series(0.0, index=genes)
        weights[targets] = edges.loc[edges["Gene1"] == tf, "EdgeWeight"].to_numpy()
        fits = [stats.linregress(weights.to_numpy(), row) for row in expression]
        np.testing.assert_allclose(scores[tf], [fit.slope / fit.stderr for fit in fits], rtol=1e-6)
    assert (scores["TF1"][active] > 5).all() and (np.abs(scores["TF1"][~active]) < 5).all()


@pytest.mark.parametrize("threshold, parquet", [(109, True), (110, False)])
def test_a_run_writes_network_parquet_when_the_network_is_large(tmp_path, monkeypatch, reference_attention,
                                                                threshold, parquet):
    """krumsiek11's 11 genes make 110 edges: large against a threshold of 109, not of 110. The Parquet
    file holds network.csv's edges (the strongest readout.max_edges)."""
    monkeypatch.setattr(grn.run, "LARGE_NETWORK_EDGES", threshold)
    cfg = compose_train(tmp_path, "experiment=grn_spherical", "logger=none", "+trainer.fast_dev_run=true",
                        "model.width=16", "model.heads=2", "readout.method=attention", "readout.max_edges=50",
                        "plots=false")
    grn.run.run(cfg)
    assert (tmp_path / "network.parquet").exists() == parquet
    if parquet:
        written = read_edges(tmp_path / "network.parquet")
        assert len(written) == 50
        pd.testing.assert_frame_equal(written, read_edges(tmp_path / "network.csv"), check_exact=True)
