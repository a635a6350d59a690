"""Figures a person reads faster than numbers: the PR curve and the signed network heatmap.

Drawn on `matplotlib.figure.Figure` objects, not pyplot: no backend is chosen or changed (importing this
module leaves a notebook's or a GUI's backend alone), no global figure state is kept, and saving works
headless. `*_figure` functions return the figure; `plot_*` functions save it atomically."""
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from sklearn.metrics import precision_recall_curve

from grn.io import atomic_write
from grn.scoring.metrics import candidate_scores

MAX_HEATMAP_GENES = 150  # a readable heatmap; a 16,384-gene one would be a 2 GiB matrix of noise


def plot_pr_curve(curves: dict[str, pd.DataFrame], truth: pd.DataFrame, path, title: str = "",
                  regulators=None) -> None:
    """pr_curve_figure saved to `path` (the format from its suffix)."""
    _save(pr_curve_figure(curves, truth, title, regulators), path)


def pr_curve_figure(curves: dict[str, pd.DataFrame], truth: pd.DataFrame, title: str = "",
                    regulators=None) -> Figure:
    """Precision-recall curves of one or more ranked edge lists against the ground truth, over the
    candidates `score_network` ranks (with `regulators`: those TFs x every gene)."""
    figure = Figure(figsize=(5, 4.5))
    axis = figure.add_subplot()
    density = None
    for label, edges in curves.items():
        y_true, score, _ = candidate_scores(edges, truth, regulators=regulators)
        precision, recall, _ = precision_recall_curve(y_true, np.abs(score))
        axis.step(recall, precision, where="post", label=label)
        density = y_true.mean()
    axis.axhline(density, color="grey", linestyle=":", label=f"random ({density:.2f})")
    axis.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title or "PR curve")
    axis.legend(loc="upper right", fontsize=8)
    return figure


def plot_network_heatmap(edges: pd.DataFrame, genes, path, truth: pd.DataFrame | None = None,
                         title: str = "") -> None:
    """network_heatmap_figure saved to `path` (the format from its suffix)."""
    _save(network_heatmap_figure(edges, genes, truth, title), path)


def network_heatmap_figure(edges: pd.DataFrame, genes, truth: pd.DataFrame | None = None,
                           title: str = "") -> Figure:
    """Signed regulator x target weights; true edges outlined (+ solid, - dashed). Beyond
    MAX_HEATMAP_GENES genes only those with the most total |weight| are drawn."""
    genes = list(genes)
    if len(genes) > MAX_HEATMAP_GENES:
        total = len(genes)
        genes = _strongest_genes(edges, genes, MAX_HEATMAP_GENES)
        edges = edges[edges["Gene1"].isin(genes) & edges["Gene2"].isin(genes)]
        title = f"{title or 'inferred network'}: the {len(genes)} strongest of {total} genes"
    position = {gene: i for i, gene in enumerate(genes)}
    index = pd.Index(genes)
    rows, columns = index.get_indexer(edges["Gene1"]), index.get_indexer(edges["Gene2"])
    if (rows < 0).any() or (columns < 0).any():
        unknown = sorted(set(edges["Gene1"][rows < 0]) | set(edges["Gene2"][columns < 0]))
        raise ValueError(f"edges name genes outside the gene list: {unknown[:5]}")
    weights = np.zeros((len(genes), len(genes)))
    weights[rows, columns] = edges["EdgeWeight"].to_numpy()
    limit = np.abs(weights).max() or 1.0
    size = min(max(4.0, 0.3 * len(genes) + 2), 20.0)  # inches: thousands of genes must not make a giant canvas
    figure = Figure(figsize=(size + 1, size))
    axis = figure.add_subplot()
    image = axis.imshow(weights, cmap="RdBu_r", vmin=-limit, vmax=limit)
    if truth is not None:
        for regulator, target, sign in truth[["Gene1", "Gene2", "Type"]].itertuples(index=False):
            if regulator in position and target in position and regulator != target:
                axis.add_patch(Rectangle((position[target] - 0.5, position[regulator] - 0.5), 1, 1, fill=False,
                                         linestyle="-" if sign == "+" else "--", linewidth=1.2))
    if len(genes) <= 60:
        axis.set_xticks(range(len(genes)), genes, rotation=90, fontsize=7)
        axis.set_yticks(range(len(genes)), genes, fontsize=7)
    axis.set(xlabel="target", ylabel="regulator", title=title or "inferred network")
    figure.colorbar(image, ax=axis, label="edge weight", shrink=0.8)
    return figure


def _strongest_genes(edges: pd.DataFrame, genes: list, count: int) -> list:
    """The `count` genes with the largest summed |weight| as regulator or target, in `genes` order."""
    strength = edges["EdgeWeight"].abs()
    total = strength.groupby(edges["Gene1"]).sum().add(strength.groupby(edges["Gene2"]).sum(), fill_value=0)
    chosen = set(total.nlargest(count).index)
    return [gene for gene in genes if gene in chosen]


def _save(figure: Figure, path) -> None:
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format=str(path).rsplit(".", 1)[-1], dpi=120))
