"""Plots for AnnData users (scanpy's `pl` convention): a network's strongest edges and predicted shifts.

Each function draws on the `ax` it is given, or on a new `matplotlib.figure.Figure` (no pyplot: no backend
is chosen or changed, and a notebook displays the returned figure), and returns the figure."""
import numpy as np
import pandas as pd
import scipy.sparse as sp
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from grn.errors import InputError

ACTIVATION, REPRESSION = "#d62728", "#1f77b4"  # red +, blue -


def network(edges: pd.DataFrame, ax=None, top: int = 30, title: str | None = None) -> Figure:
    """The `top` strongest edges of a grn.infer table (source, target, signed weight) as a bipartite drawing:
    regulators on the left, targets on the right (a regulator that is also a target appears on both sides),
    each ordered by its total |weight|; red edges activate, blue ones repress, wider ones are stronger."""
    if not {"source", "target", "weight"} <= set(edges.columns):
        raise InputError(f"edges need source, target and weight columns (grn.infer's table), got {list(edges.columns)}")
    if top < 1:
        raise InputError(f"top must be at least 1, got {top}")
    strongest = edges.iloc[np.argsort(-np.abs(edges["weight"].to_numpy()), kind="stable")[:top]]
    strength = strongest.assign(strength=strongest["weight"].abs())
    sources = list(strength.groupby("source", sort=False)["strength"].sum().sort_values(ascending=False, kind="stable").index)
    targets = list(strength.groupby("target", sort=False)["strength"].sum().sort_values(ascending=False, kind="stable").index)
    height = max(len(sources), len(targets))
    figure, ax = _figure_and_axis(ax, (6, max(3.0, 0.28 * height)))
    y_source = {gene: _spread(i, len(sources), height) for i, gene in enumerate(sources)}
    y_target = {gene: _spread(i, len(targets), height) for i, gene in enumerate(targets)}
    weight = strongest["weight"].to_numpy(dtype=float)
    largest = np.abs(weight).max() if len(weight) else 1.0
    segments = [[(0.0, y_source[s]), (1.0, y_target[t])] for s, t in zip(strongest["source"], strongest["target"])]
    ax.add_collection(LineCollection(segments, colors=np.where(weight < 0, REPRESSION, ACTIVATION),
                                     linewidths=0.5 + 3.0 * np.abs(weight) / (largest or 1.0), alpha=0.8))
    ax.scatter(np.zeros(len(sources)), [y_source[g] for g in sources], s=30, color="black", zorder=3)
    ax.scatter(np.ones(len(targets)), [y_target[g] for g in targets], s=30, color="grey", zorder=3)
    for gene in sources:
        ax.text(-0.04, y_source[gene], gene, ha="right", va="center", fontsize=8)
    for gene in targets:
        ax.text(1.04, y_target[gene], gene, ha="left", va="center", fontsize=8)
    ax.legend(handles=[Line2D([], [], color=ACTIVATION, label="activation"),
                       Line2D([], [], color=REPRESSION, label="repression")],
              loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False, fontsize=8)
    ax.set(xlim=(-0.45, 1.45), ylim=(height - 0.5, -0.5), title=title or f"the {len(strongest)} strongest edges")
    ax.set_axis_off()
    return figure


def perturbation(adata, layer: str = "perturb_shift", genes=None, ax=None, top: int = 20, groupby: str | None = None,
                 title: str | None = None) -> Figure:
    """Predicted shifts (grn.perturb's layer): the mean shift over cells of each gene as a bar (red up, blue
    down), or with `groupby` (an obs column) a genes x groups heatmap of the group means. genes: those to show;
    by default the `top` with the largest mean |shift|, the perturbed genes themselves left out."""
    if layer not in adata.layers:
        raise InputError(f"no layer {layer!r}; run grn.perturb first (layers are {sorted(adata.layers)})")
    values = adata.layers[layer]
    shifts = pd.DataFrame(values.toarray() if sp.issparse(values) else np.asarray(values),
                          index=adata.obs_names, columns=adata.var_names)
    perturbed = dict(adata.uns.get(layer, {}).get("perturbation", {}))
    if genes is None:
        candidates = shifts.drop(columns=[gene for gene in perturbed if gene in shifts.columns])
        genes = list(candidates.abs().mean().sort_values(ascending=False, kind="stable").index[:top])
    missing = [gene for gene in genes if gene not in shifts.columns]
    if missing:
        raise InputError(f"genes not in the AnnData: {missing}")
    label = title or "predicted shift" + (": " + ", ".join(f"{g} = {v:g}" for g, v in perturbed.items()) if perturbed else "")
    if groupby is None:
        means = shifts[genes].mean()
        figure, ax = _figure_and_axis(ax, (5, max(3.0, 0.25 * len(genes))))
        ax.barh(range(len(genes)), means.to_numpy(), color=np.where(means.to_numpy() < 0, REPRESSION, ACTIVATION))
        ax.set_yticks(range(len(genes)), genes, fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set(xlabel="mean shift over cells", title=label)
        return figure
    if groupby not in adata.obs:
        raise InputError(f"no obs column {groupby!r}")
    means = shifts[genes].groupby(adata.obs[groupby].to_numpy()).mean().T  # genes x groups
    figure, ax = _figure_and_axis(ax, (1.5 + 0.45 * means.shape[1], 2.0 + 0.25 * len(genes)))  # 2 in: group names
    limit = float(np.abs(means.to_numpy()).max()) or 1.0
    image = ax.imshow(means.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_yticks(range(len(genes)), genes, fontsize=8)
    ax.set_xticks(range(means.shape[1]), [str(group) for group in means.columns], rotation=90, fontsize=8)
    figure.colorbar(image, ax=ax, label="mean shift")
    ax.set_title(label)
    return figure


def _figure_and_axis(ax, size):
    if ax is not None:
        return ax.figure, ax
    figure = Figure(figsize=size, layout="constrained")
    return figure, figure.add_subplot()


def _spread(i: int, count: int, height: int) -> float:
    """Row i of `count` rows spread over `height` rows, so that the shorter side is centred."""
    return i * (height - 1) / max(count - 1, 1) if count > 1 else (height - 1) / 2
