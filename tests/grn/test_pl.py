"""grn.pl: the artists drawn (edges, colours by sign, bars, heatmap cells) against the data, and no backend forced."""
import os
import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

import grn
from grn.errors import InputError

RED, BLUE = to_rgb("#d62728"), to_rgb("#1f77b4")


def edge_table():
    return pd.DataFrame({"source": ["A", "A", "B", "C", "B", "C"], "target": ["X", "Y", "X", "A", "Z", "Z"],
                         "weight": [0.9, -0.7, 0.5, -0.4, 0.3, 0.1]})


def test_network_draws_the_strongest_edges_coloured_by_sign():
    figure = grn.pl.network(edge_table().iloc[::-1], top=4)  # any row order: the strongest are drawn
    assert isinstance(figure, Figure)
    axis = figure.axes[0]
    (edges,) = [c for c in axis.collections if isinstance(c, LineCollection)]
    segments = edges.get_segments()
    assert len(segments) == 4
    assert [tuple(c[:3]) for c in edges.get_colors()] == [RED, BLUE, RED, BLUE]  # 0.9, -0.7, 0.5, -0.4
    assert (np.diff(edges.get_linewidths()) < 0).all()  # wider is stronger
    # every edge runs from its regulator's label row on the left to its target's on the right
    drawn = {(round(s[0][1], 6), round(s[1][1], 6)) for s in segments}
    left = {text.get_text(): text.get_position()[1] for text in axis.texts if text.get_position()[0] < 0.5}
    right = {text.get_text(): text.get_position()[1] for text in axis.texts if text.get_position()[0] > 0.5}
    strongest = edge_table().iloc[:4]
    assert drawn == {(round(left[s], 6), round(right[t], 6)) for s, t in zip(strongest["source"], strongest["target"])}
    assert set(left) == {"A", "B", "C"} and set(right) == {"X", "Y", "A"}


def test_network_uses_the_given_axis():
    figure = Figure()
    axis = figure.add_subplot()
    assert grn.pl.network(edge_table(), ax=axis, top=2) is figure
    with pytest.raises(InputError, match="source, target and weight"):
        grn.pl.network(pd.DataFrame({"Gene1": ["A"], "Gene2": ["B"]}))


def shifted_cells():
    rng = np.random.default_rng(0)
    adata = ad.AnnData(np.zeros((6, 5), dtype=np.float32), var=pd.DataFrame(index=["A", "B", "C", "D", "E"]))
    adata.layers["perturb_shift"] = rng.normal(size=(6, 5)).astype(np.float32)
    adata.uns["perturb_shift"] = {"perturbation": {"A": 0.0}, "genes": list(adata.var_names)}
    adata.obs["kind"] = ["u", "v", "u", "w", "v", "u"]
    return adata


def test_perturbation_bars_are_the_mean_shifts_without_the_perturbed_gene():
    adata = shifted_cells()
    figure = grn.pl.perturbation(adata, top=3)
    axis = figure.axes[0]
    names = [label.get_text() for label in axis.get_yticklabels()]
    means = {gene: float(np.mean(adata.layers["perturb_shift"][:, i])) for i, gene in enumerate(adata.var_names)}
    magnitude = {gene: float(np.abs(adata.layers["perturb_shift"][:, i]).mean()) for i, gene in enumerate(adata.var_names)}
    expected = sorted((g for g in means if g != "A"), key=lambda g: -magnitude[g])[:3]  # by mean |shift| per cell
    assert names == expected
    bars = axis.patches
    np.testing.assert_allclose([bar.get_width() for bar in bars], [means[g] for g in expected], rtol=1e-6)
    assert [tuple(bar.get_facecolor()[:3]) for bar in bars] == [BLUE if means[g] < 0 else RED for g in expected]


def test_perturbation_heatmap_is_the_group_means():
    adata = shifted_cells()
    figure = grn.pl.perturbation(adata, genes=["B", "E"], groupby="kind")
    image = figure.axes[0].get_images()[0].get_array()
    shifts = adata.layers["perturb_shift"]
    kinds = np.asarray(adata.obs["kind"])
    expected = [[shifts[kinds == kind, column].mean() for kind in ("u", "v", "w")] for column in (1, 4)]
    np.testing.assert_allclose(image, expected, rtol=1e-6)
    with pytest.raises(InputError, match="no layer 'other'"):
        grn.pl.perturbation(adata, layer="other")


def test_importing_and_drawing_leave_the_backend_alone():
    code = ("import matplotlib, grn, pandas as pd; grn.pl.network(pd.DataFrame({'source': ['A'], 'target': ['B'], "
            "'weight': [1.0]})).savefig('/dev/null', format='png'); print(matplotlib.get_backend())")
    env = {**os.environ, "MPLBACKEND": "template"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "template"
