"""SERGIO (Dibaeinia & Sinha 2020, PyPI `sergio-scsim`): single cells simulated from a gene regulatory
network drawn from SERGIO's shipped E. coli or human reference, with that network as ground truth.

The network is a connected sub-network of the reference: genes are gathered breadth-first (edges taken
either way) from a random regulator of the reference's largest connected component until `n_genes`, and cycles are broken as SERGIO requires (its
steady-state estimate walks the network level by level). Edges are parameterised as SERGIO does:
activation with probability 3/4, K uniform in [1, 5] (or [-5, -1] for repression), Hill n = 2, decay
0.8; master regulators get random low/high production rates per cell type. SERGIO draws from NumPy's
global generator, so it is seeded here and restored afterwards.
"""
from collections import deque
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from grn.errors import InputError
from grn.data.ground_truth import validate_truth

REFERENCES = ("ecoli", "human")


def simulate_sergio(reference: str = "ecoli", n_genes: int = 100, n_cell_types: int = 3, cells_per_type: int = 300,
                    noise: float = 1.0, seed: int = 0) -> ad.AnnData:
    """Cells x genes steady-state expression of `n_cell_types` cell types, truth in uns["ground_truth"]."""
    try:
        import networkx  # noqa: F401
        import SERGIO  # noqa: F401
    except ImportError as error:
        raise InputError(f"SERGIO datasets need the sergio extra ({error.name} is not installed): "
                         "pip install 'flashsign-grn[sergio]'") from error
    if reference not in REFERENCES:
        raise InputError(f"unknown SERGIO reference {reference!r}; expected one of {REFERENCES}")
    if n_genes < 3 or n_cell_types < 1 or cells_per_type < 2:
        raise InputError(f"need n_genes >= 3, n_cell_types >= 1, cells_per_type >= 2; got {n_genes}, "
                         f"{n_cell_types}, {cells_per_type}")
    rng = np.random.default_rng(seed)
    edges = reference_subnetwork(reference_edges(reference), n_genes, rng)
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        truth, expression = _simulate(edges, n_cell_types, cells_per_type, noise, rng)
    finally:
        np.random.set_state(state)
    cells = expression.T
    adata = ad.AnnData(X=cells.to_numpy(dtype=np.float32), obs=pd.DataFrame(index=cells.index.astype(str)),
                       var=pd.DataFrame(index=cells.columns.astype(str)))
    adata.obs["cell_type"] = [name.split("_cell_")[0] for name in adata.obs_names]
    adata.uns["name"] = f"sergio_{reference}_{n_genes}_{seed}"
    adata.uns["ground_truth"] = validate_truth(truth, adata.var_names, f"SERGIO {reference} network")
    return adata


def reference_edges(reference: str) -> pd.DataFrame:
    """SERGIO's shipped reference network as (Gene1 regulator, Gene2 target), without repeats or self-loops."""
    import SERGIO

    folder = Path(SERGIO.__file__).parent / "GRN" / "ref"
    if reference == "ecoli":
        table = pd.read_csv(folder / "EcoliNet.v1.txt", sep="\t", names=["Gene1", "Gene2", "score"], dtype=str)
    else:
        table = pd.read_csv(folder / "human.source", sep="\t", names=["Gene1", "reg_id", "Gene2", "tar_id"], dtype=str)
    table = table[["Gene1", "Gene2"]].dropna().drop_duplicates()
    return table[table["Gene1"] != table["Gene2"]].reset_index(drop=True)


def reference_subnetwork(edges: pd.DataFrame, n_genes: int, rng: np.random.Generator) -> pd.DataFrame:
    """A connected acyclic sub-network of n_genes genes (fewer only if the reference's largest connected
    component is smaller), grown breadth-first from a random regulator of that component."""
    import networkx as nx  # the sergio extra

    reference = nx.DiGraph(edges[["Gene1", "Gene2"]].to_numpy().tolist())
    component = max(nx.weakly_connected_components(reference), key=len)
    regulators = sorted(gene for gene in component if reference.out_degree(gene) > 0)
    start = regulators[rng.integers(len(regulators))]
    chosen, queue = {start}, deque([start])
    while queue and len(chosen) < n_genes:
        gene = queue.popleft()
        for neighbour in rng.permutation(sorted(set(reference.successors(gene)) | set(reference.predecessors(gene)))):
            if len(chosen) < n_genes and neighbour not in chosen:
                chosen.add(neighbour)
                queue.append(neighbour)
    graph = nx.DiGraph(edges[edges["Gene1"].isin(chosen) & edges["Gene2"].isin(chosen)].to_numpy().tolist())
    while True:  # break cycles, one edge each, as SERGIO needs a DAG
        try:
            graph.remove_edge(*nx.find_cycle(graph)[-1][:2])
        except nx.NetworkXNoCycle:
            break
    return pd.DataFrame(sorted(graph.edges()), columns=["Gene1", "Gene2"])


def _simulate(edges, n_cell_types, cells_per_type, noise, rng):
    from SERGIO import sergio
    from SERGIO.GRN import GRN, Gene, SingleInteraction
    from SERGIO.MR import mrProfile

    grn = GRN()
    signs = []
    for regulator, target in edges.itertuples(index=False):
        activates = rng.random() < 0.75
        k = rng.uniform(1, 5) * (1 if activates else -1)
        interaction = SingleInteraction(reg=[Gene(name=regulator, decay=0.8)],
                                               tar=Gene(name=target, decay=0.8), k=k, h=None, n=2)
        grn.add_interaction(interaction)
        signs.append("+" if activates else "-")
    grn.setMRs()
    profile = mrProfile(MR_names=grn.get_mrs(), n_types=n_cell_types)
    profile.build_rnd()
    grn.init(profile, update_half_resp=True)
    simulator = sergio(grn)
    simulator.simulate(nCells=cells_per_type, noise_s=noise)
    truth = edges.assign(Type=signs)
    return truth, simulator.getSimExpr()
