"""Figures stay readable and cheap at whole-transcriptome size, and drawing them leaves the user's
matplotlib backend alone."""
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from grn.scoring import plots
from grn.readout.edges import edges_from_matrix


def test_strongest_genes_are_the_hubs_in_gene_order():
    edges = pd.DataFrame({"Gene1": ["a", "a", "c", "d"], "Gene2": ["b", "c", "a", "e"],
                          "EdgeWeight": [5.0, -4.0, 1.0, 0.1]})
    # |weight| totals: a 10, c 5, b 5, d 0.1, e 0.1
    assert plots._strongest_genes(edges, ["e", "d", "c", "b", "a"], 3) == ["c", "b", "a"]


def test_heatmap_of_thousands_of_genes_draws_the_strongest(tmp_path, monkeypatch):
    genes = [f"g{i}" for i in range(2000)]
    weights = np.random.default_rng(0).normal(scale=0.01, size=(2000, 2000))
    weights[:, 7] *= 1000  # g7 regulates everyone strongly
    drawn = []
    monkeypatch.setattr(plots, "network_heatmap_figure", _recording(plots.network_heatmap_figure, drawn))
    start = time.perf_counter()
    plots.plot_network_heatmap(edges_from_matrix(weights, genes, max_edges=100_000), genes, tmp_path / "net.png")
    assert time.perf_counter() - start < 60
    assert (tmp_path / "net.png").stat().st_size > 0
    image = drawn[0].images[0].get_array()
    assert image.shape == (plots.MAX_HEATMAP_GENES, plots.MAX_HEATMAP_GENES)
    assert np.abs(image).max() > 1  # g7's edges (|weight| ~10) are drawn; all others are ~0.01
    assert "strongest of 2000 genes" in drawn[0].get_title()


def _recording(make_figure, drawn):
    def record(*args, **kwargs):
        figure = make_figure(*args, **kwargs)
        drawn.append(figure.axes[0])
        return figure
    return record


def test_heatmap_puts_each_edge_at_regulator_row_target_column():
    edges = pd.DataFrame({"Gene1": ["a", "c"], "Gene2": ["b", "a"], "EdgeWeight": [2.0, -1.0]})
    figure = plots.network_heatmap_figure(edges, ["a", "b", "c"])
    expected = np.array([[0, 2.0, 0], [0, 0, 0], [-1.0, 0, 0]])
    np.testing.assert_array_equal(figure.axes[0].images[0].get_array(), expected)


def test_importing_and_plotting_leave_the_users_backend_alone(tmp_path):
    """A notebook's or GUI's backend stays what the user chose: `template` (headless, not Agg) here."""
    script = f"""
import matplotlib, pandas as pd
import grn, grn.run
from grn.scoring import plots
edges = pd.DataFrame({{"Gene1": ["a"], "Gene2": ["b"], "EdgeWeight": [1.0]}})
plots.plot_network_heatmap(edges, ["a", "b"], {str(tmp_path / "net.png")!r})
print(matplotlib.get_backend())
"""
    environment = {**os.environ, "MPLBACKEND": "template"}
    result = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "template"
    assert (tmp_path / "net.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
