"""In-silico perturbation read-out: how the model's prediction for gene i moves when gene j's input moves.

For each target i the model sees every cell with gene i hidden, so that its prediction for i rests on
the other genes alone (the masked-modelling question "what is i, given the rest?"). The effect of
regulator j on target i is then, averaged over cells:
- jacobian: d prediction_i / d value_j, by autograd;
- raise:    (prediction_i(value_j + step) - prediction_i) / step, a forward finite difference;
- knockout: prediction_i - prediction_i(value_j set to its knocked-out level), i.e. what j's
            presence contributes, positive for an activator as for the other two.
Values are the standardised inputs the model was trained on; `knockout_values` (one per gene) is the
standardised level of zero expression. The result is a (target i, regulator j) matrix like
`grn.readout.attention_maps`' maps, with signs: positive = activation, negative = repression.
With a list of regulators (a TF list), `masked_perturbation_effects` knocks out (or raises) those genes only, on
cells that hide a training-like fraction of their genes, so that the cost grows with the regulators, not the
genes squared.
"""
import torch
from tqdm.auto import tqdm

METHODS = ("jacobian", "raise", "knockout")
MASKED_METHODS = ("raise", "knockout")  # masked_perturbation_effects: finite moves of the listed regulators
REDUCTIONS = ("mean", "abs")


def perturbation_effects(model, loader, n_genes: int, method: str = "jacobian", reduce: str = "mean",
                         step: float = 1.0, knockout_values=None) -> torch.Tensor:
    """(target i, regulator j) effects averaged over every cell of `loader` (batches as the DataModule
    yields them: gene ids, values, [hidden, key padding mask]; the batch's own hidden masks are ignored).
    reduce='abs' averages the magnitude of each cell's effect instead of the signed effect."""
    _check_method(method, METHODS, step, knockout_values)
    if reduce not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduce!r}; expected one of {REDUCTIONS}")
    device = next(model.parameters()).device
    totals = torch.zeros(n_genes, n_genes, dtype=torch.float64, device=device)
    counts = torch.zeros_like(totals)
    if knockout_values is not None:
        knockout_values = torch.as_tensor(knockout_values, dtype=torch.float32, device=device)
    was_training = model.training
    model.eval()
    try:
        for batch in tqdm(loader, desc=f"in-silico {method}", leave=False):
            gene_ids, values = batch[0].to(device), batch[1].to(device).float()
            present = batch[3].to(device).bool() if len(batch) > 3 else torch.ones_like(gene_ids, dtype=torch.bool)
            mask = None if present.all() else present  # the unmasked path when every gene is present
            effects = _cell_effects(model, gene_ids, values, present, mask, method, step, knockout_values)
            effects = effects.abs() if reduce == "abs" else effects
            # token positions -> gene ids: one-hot (cell, position, gene), zero for padding tokens
            onehot = torch.nn.functional.one_hot(gene_ids, n_genes).double() * present[..., None]
            totals += torch.einsum("bti,btr,brj->ij", onehot, effects.double(), onehot)
            counts += torch.einsum("bti,brj->ij", onehot, onehot)
    finally:
        model.train(was_training)
    return (totals / counts.clamp(min=1)).float().cpu()


def _check_method(method, methods, step, knockout_values) -> None:
    if method not in methods:
        raise ValueError(f"unknown perturbation method {method!r}; expected one of {methods}")
    if method == "knockout" and knockout_values is None:
        raise ValueError("the knockout method needs knockout_values, the standardised level of zero expression")
    if method == "raise" and step == 0:
        raise ValueError("the raise method needs a non-zero step")


def _cell_effects(model, gene_ids, values, present, mask, method, step, knockout_values) -> torch.Tensor:
    """(cell, target position, regulator position) effects; zero on the diagonal and for padding."""
    n_tokens = gene_ids.shape[1]
    effects = values.new_zeros(values.shape[0], n_tokens, n_tokens)
    for target in range(n_tokens):
        hidden = torch.zeros_like(present)
        hidden[:, target] = True
        if method == "jacobian":
            with torch.enable_grad():
                inputs = values.detach().requires_grad_(True)
                predicted = model(gene_ids, inputs, hidden, mask)[:, target]
                effects[:, target] = torch.autograd.grad(predicted.sum(), inputs)[0]
        else:
            with torch.no_grad():
                effects[:, target] = _finite_differences(model, gene_ids, values, hidden, mask, target, method,
                                                         step, knockout_values)
    off_diagonal = ~torch.eye(n_tokens, dtype=torch.bool, device=values.device)
    return effects * off_diagonal * present[:, :, None] * present[:, None, :]


def _finite_differences(model, gene_ids, values, hidden, mask, target, method, step, knockout_values):
    """(cell, regulator position) change of the target's prediction, every regulator moved in one batch."""
    batch, n_tokens = values.shape
    moved = values.expand(n_tokens, batch, n_tokens).clone()  # (moved regulator, cell, position)
    regulator = torch.arange(n_tokens, device=values.device)
    if method == "raise":
        moved[regulator, :, regulator] += step
    else:
        moved[regulator, :, regulator] = knockout_values[gene_ids].T
    repeat = (n_tokens, 1)
    base = model(gene_ids, values, hidden, mask)[:, target, None]
    shifted = model(gene_ids.repeat(repeat), moved.reshape(-1, n_tokens), hidden.repeat(repeat),
                    None if mask is None else mask.repeat(repeat))[:, target].view(n_tokens, batch).T
    return (shifted - base) / step if method == "raise" else base - shifted


def regulator_normalised(effects: torch.Tensor) -> torch.Tensor:
    """Each regulator's column of (target, regulator) effects divided by its total |effect|, so that a
    regulator with broad, strong effects does not crowd out the targets of a weaker one."""
    total = effects.abs().sum(dim=0, keepdim=True)
    return effects / torch.where(total > 0, total, torch.ones_like(total))


@torch.no_grad()
def masked_perturbation_effects(model, loader, n_genes: int, regulators, mask_fraction: float,
                                method: str = "knockout", knockout_values=None, step: float = 1.0,
                                n_masks: int = 4, seed: int = 0, token_budget: int = 1 << 19,
                                always_hidden=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Knockout or raise effects of the listed regulators only, for large networks: (target i, regulator)
    matrices of the mean signed effect and the mean |effect|, columns in the order of `regulators` (gene ids).

    Instead of hiding one target at a time (n_genes x (1 + n_genes) forward passes per cell), each of `n_masks`
    passes hides a random `mask_fraction` of the genes, as training did, and moves each visible regulator in
    turn: set to its knockout value (knockout: the effect on every hidden target i is prediction_i -
    prediction_i(regulator knocked out)) or raised by `step` (raise: (prediction_i(raised) - prediction_i) / step).
    That is n_masks x (1 + len(regulators)) forward passes per cell. A pair is averaged over the passes where its
    target was hidden and its regulator visible. `always_hidden` (a flag per gene, as the model was trained): those
    genes are hidden in every pass and the mask_fraction is drawn from the others. Cells must carry every gene
    (dense batches, token position = gene id)."""
    _check_method(method, MASKED_METHODS, step, knockout_values)
    device = next(model.parameters()).device
    regulators = torch.as_tensor(list(regulators), dtype=torch.long, device=device)
    if knockout_values is not None:
        knockout_values = torch.as_tensor(knockout_values, dtype=torch.float32, device=device)
    always_hidden = torch.zeros(n_genes, dtype=torch.bool) if always_hidden is None else \
        torch.as_tensor(always_hidden, dtype=torch.bool)
    n_hidden = max(1, round(mask_fraction * int((~always_hidden).sum())))
    signed = torch.zeros(n_genes, len(regulators), dtype=torch.float64, device=device)
    magnitude, counts = torch.zeros_like(signed), torch.zeros_like(signed)
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        for batch in tqdm(loader, desc=f"in-silico {method} of regulators", leave=False):
            gene_ids, values = batch[0].to(device), batch[1].to(device).float()
            if (len(batch) > 3 and not batch[3].all()) or gene_ids.shape[1] != n_genes:
                raise ValueError(f"the regulators' {method} read-out reads dense cells (every gene a token); "
                                 "set data.loader.expressed_only=false")
            cells = values.shape[0]
            chunk = max(1, token_budget // (cells * n_genes))  # regulators moved per forward pass
            for _ in range(n_masks):
                # the always-hidden genes sort last, so the random mask_fraction is drawn from the others
                draws = torch.rand(cells, n_genes, generator=generator).masked_fill(always_hidden, 2.0)
                order = draws.argsort(1)[:, :n_hidden]
                hidden = always_hidden.expand(cells, n_genes).clone().scatter_(1, order, True).to(device)
                base = model(gene_ids, values, hidden)
                for start in range(0, len(regulators), chunk):
                    knocked = regulators[start:start + chunk]
                    moved = values.expand(len(knocked), cells, n_genes).clone()
                    rows = torch.arange(len(knocked), device=device)
                    if method == "raise":
                        moved[rows, :, knocked] += step
                    else:
                        moved[rows, :, knocked] = knockout_values[knocked, None]
                    shifted = model(gene_ids.repeat(len(knocked), 1), moved.reshape(-1, n_genes),
                                    hidden.repeat(len(knocked), 1)).view(len(knocked), cells, n_genes)
                    # (moved regulator, cell, target)
                    effect = ((shifted - base[None]) / step if method == "raise" else base[None] - shifted).double()
                    # targets hidden in the cell, regulator visible (so never the target itself)
                    valid = (hidden[None] & ~hidden[:, knocked].T[:, :, None]).double()
                    signed[:, start:start + len(knocked)] += (effect * valid).sum(1).T
                    magnitude[:, start:start + len(knocked)] += (effect.abs() * valid).sum(1).T
                    counts[:, start:start + len(knocked)] += valid.sum(1).T
    finally:
        model.train(was_training)
    counts = counts.clamp(min=1)
    return (signed / counts).float().cpu(), (magnitude / counts).float().cpu()
