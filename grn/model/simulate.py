"""In-silico perturbation of cells: CellOracle's `simulate_shift`, with the trained transformer in place of its
linear models, so that effects are learned, signed and may combine non-linearly.

Some genes are set to new levels in every cell; the model then predicts every other gene as it learned to,
from the cell with a training-like fraction of its genes hidden. A gene's shift is its prediction from the
perturbed cell minus its prediction from the cell as it is, under the same hidden genes, so that what the
mask changes cancels. Values are standardised (the model's inputs)."""
import torch


@torch.no_grad()
def predicted_shift(model, values: torch.Tensor, perturbation: dict[int, float], mask_fraction: float,
                    n_rounds: int = 1, seed: int = 0, batch_size: int = 64) -> torch.Tensor:
    """(cells, genes) shift of each gene when the genes of `perturbation` (gene id -> new standardised value)
    are set to those values in every cell of `values` (cells, genes: every gene a token, token i = gene i).

    The other genes are dealt at random, per cell, into round(1 / mask_fraction) equal groups, and each
    forward pass hides one group: every gene is predicted once per round with about mask_fraction of the genes
    hidden, as in training. The shift is averaged over n_rounds rounds. Perturbed genes stay visible; their
    shift is their own change."""
    if n_rounds < 1:
        raise ValueError(f"n_rounds must be at least 1, got {n_rounds}")
    device = next(model.parameters()).device
    n_cells, n_genes = values.shape
    perturbed = torch.tensor(list(perturbation), dtype=torch.long)
    levels = torch.tensor(list(perturbation.values()), dtype=torch.float32)
    free = torch.ones(n_genes, dtype=torch.bool)
    free[perturbed] = False
    n_free = int(free.sum())
    n_groups = max(1, round(1 / mask_fraction))
    generator = torch.Generator().manual_seed(seed)
    shift = torch.zeros(n_cells, n_genes, dtype=torch.float64)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, n_cells, batch_size):
            before = values[start:start + batch_size].float()
            after = before.clone()
            after[:, perturbed] = levels
            cells = before.shape[0]
            gene_ids = torch.arange(n_genes).expand(2 * cells, n_genes).to(device)
            inputs = torch.cat([before, after]).to(device)
            for _ in range(n_rounds):
                # each cell's free genes in a random order, cut into n_groups groups of (nearly) equal size
                order = torch.rand(cells, n_free, generator=generator).argsort(1).argsort(1)
                group = torch.full((cells, n_genes), -1, dtype=torch.long)
                group[:, free] = order * n_groups // max(n_free, 1)
                for hidden_group in range(n_groups):
                    hidden = group == hidden_group
                    if not hidden.any():
                        continue
                    predicted = model(gene_ids, inputs, hidden.repeat(2, 1).to(device)).cpu().double()
                    change = predicted[cells:] - predicted[:cells]
                    shift[start:start + cells] += torch.where(hidden, change, 0.0)
            shift[start:start + cells] /= n_rounds
            shift[start:start + cells, perturbed] = (after - before)[:, perturbed].double()
    finally:
        model.train(was_training)
    return shift.float()
