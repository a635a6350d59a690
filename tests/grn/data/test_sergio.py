"""SERGIO datasets: a connected acyclic piece of the reference, simulated with its signed truth, and
written as a BEELINE-like folder that grn.data.load_beeline reads back."""
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from grn.data.loaders import load_beeline
from grn.errors import InputError
from grn.data.sergio import reference_edges, reference_subnetwork, simulate_sergio
from grn.data.simulated import write_beeline_dataset


def test_subnetwork_is_a_connected_acyclic_piece_of_the_reference():
    edges = pd.DataFrame({"Gene1": ["a", "b", "c", "c", "x", "e", "f"], "Gene2": ["b", "c", "a", "d", "y", "d", "e"]})
    piece = reference_subnetwork(edges, n_genes=4, rng=np.random.default_rng(0))
    graph = nx.DiGraph(piece.to_numpy().tolist())
    assert graph.number_of_nodes() == 4
    assert nx.is_directed_acyclic_graph(graph) and nx.is_weakly_connected(graph)
    assert set(map(tuple, piece.to_numpy())) <= set(map(tuple, edges.to_numpy()))
    assert not {"x", "y"} & set(graph.nodes)  # never reached from the big component


def test_reference_networks_load():
    ecoli = reference_edges("ecoli")
    assert len(ecoli) > 1000 and (ecoli["Gene1"] != ecoli["Gene2"]).all() and not ecoli.duplicated().any()


def test_simulation_has_signed_truth_and_restores_numpy_state(tmp_path):
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    adata = simulate_sergio(n_genes=12, n_cell_types=2, cells_per_type=15, seed=1)
    assert np.random.random() == expected_next
    assert adata.shape == (30, 12) and (adata.X >= 0).all() and adata.X.std(axis=0).max() > 0
    truth = adata.uns["ground_truth"]
    assert set(truth["Type"]) <= {"+", "-"} and set(truth["Gene1"]) | set(truth["Gene2"]) <= set(adata.var_names)
    again = simulate_sergio(n_genes=12, n_cell_types=2, cells_per_type=15, seed=1)
    np.testing.assert_array_equal(again.X, adata.X)
    loaded = load_beeline(path=write_beeline_dataset(adata, tmp_path / "sergio_12"))
    np.testing.assert_allclose(loaded.X, adata.X, rtol=1e-6)
    pd.testing.assert_frame_equal(loaded.uns["ground_truth"], truth)


def test_bad_reference_is_named():
    with pytest.raises(InputError, match="unknown SERGIO reference"):
        simulate_sergio(reference="yeast")
