"""In-silico perturbation read-out vs effects computed cell by cell, pair by pair, in float64."""
import copy

import numpy as np
import pytest
import torch

from grn.model.transformer import GRNTransformer
from grn.readout.perturbation import masked_perturbation_effects, perturbation_effects, regulator_normalised

N_GENES = 5


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GRNTransformer(N_GENES, width=8, heads=2, depth=2, mlp_ratio=2, normaliser="l2").eval()


@pytest.fixture(scope="module")
def cells():
    """Cells whose tokens list the genes in a different order each, so positions != gene ids."""
    generator = torch.Generator().manual_seed(1)
    gene_ids = torch.stack([torch.randperm(N_GENES, generator=generator) for _ in range(6)])
    values = torch.randn(6, N_GENES, generator=generator)
    return gene_ids, values


def _predict(model, gene_ids, values, target_gene):
    """float64 prediction for one gene of one cell, that gene hidden."""
    hidden = (gene_ids == target_gene)[None]
    out = model(gene_ids[None], values[None], hidden)
    return out[0, gene_ids == target_gene][0]


def _reference(model, gene_ids, values, effect):
    """(target, regulator) effects averaged over cells, in gene space, by explicit loops in float64."""
    model = copy.deepcopy(model).double()
    total = torch.zeros(N_GENES, N_GENES, dtype=torch.float64)
    for cell in range(len(gene_ids)):
        ids, x = gene_ids[cell], values[cell].double()
        for target in range(N_GENES):
            for regulator in range(N_GENES):
                if regulator != target:
                    total[target, regulator] += effect(model, ids, x, target, regulator)
    return total / len(gene_ids)


def _moved(ids, x, regulator, value=None, step=0.0):
    x = x.clone()
    position = ids == regulator
    x[position] = x[position] + step if value is None else value
    return x


def test_jacobian_matches_central_differences(model, cells):
    gene_ids, values = cells
    h = 1e-5

    def central(m, ids, x, target, regulator):
        up, down = (_predict(m, ids, _moved(ids, x, regulator, step=s), target) for s in (h, -h))
        return (up - down) / (2 * h)

    expected = _reference(model, gene_ids, values, central)
    effects = perturbation_effects(model, [(gene_ids, values)], N_GENES, "jacobian")
    torch.testing.assert_close(effects.double(), expected, atol=2e-5, rtol=1e-4)
    assert expected.abs().max() > 1e-2  # the model is not trivially flat


def test_raise_and_knockout_match_explicit_differences(model, cells):
    gene_ids, values = cells
    knockout = torch.linspace(-1.5, -0.5, N_GENES)

    def raised(m, ids, x, target, regulator):
        return (_predict(m, ids, _moved(ids, x, regulator, step=0.5), target) - _predict(m, ids, x, target)) / 0.5

    def knocked(m, ids, x, target, regulator):
        return _predict(m, ids, x, target) - _predict(m, ids, _moved(ids, x, regulator, knockout[regulator].double()),
                                                      target)

    batches = [(gene_ids[:4], values[:4]), (gene_ids[4:], values[4:])]
    for method, effect, options in (("raise", raised, {"step": 0.5}), ("knockout", knocked, {"knockout_values": knockout})):
        expected = _reference(model, gene_ids, values, effect)
        effects = perturbation_effects(model, batches, N_GENES, method, **options)
        torch.testing.assert_close(effects.double(), expected, atol=2e-5, rtol=1e-4)


def test_abs_reduction_averages_magnitudes(model, cells):
    gene_ids, values = cells
    per_cell = [perturbation_effects(model, [(gene_ids[c:c + 1], values[c:c + 1])], N_GENES, "jacobian")
                for c in range(len(gene_ids))]
    expected = torch.stack(per_cell).abs().mean(0)
    torch.testing.assert_close(perturbation_effects(model, [cells], N_GENES, "jacobian", "abs"), expected)


def test_padding_tokens_are_ignored(model):
    """A padded cell's effects equal those of the same cell without padding."""
    gene_ids, values = torch.tensor([[2, 0, 4]]), torch.tensor([[0.3, -1.0, 0.7]])
    padded_ids, padded_values = torch.tensor([[2, 0, 4, 1]]), torch.tensor([[0.3, -1.0, 0.7, 5.0]])
    mask = torch.tensor([[True, True, True, False]])
    plain = perturbation_effects(model, [(gene_ids, values)], N_GENES, "jacobian")
    ignored_hidden = torch.ones_like(mask)
    padded = perturbation_effects(model, [(padded_ids, padded_values, ignored_hidden, mask)], N_GENES, "jacobian")
    torch.testing.assert_close(padded, plain)
    assert plain[1].abs().sum() == 0 and plain[:, 1].abs().sum() == 0  # gene 1 absent: no effects


def test_regulator_normalised_columns_have_unit_magnitude():
    effects = torch.tensor([[0.0, -3.0, 0.0], [1.0, 0.0, 0.0], [-3.0, 1.0, 0.0]])
    expected = torch.tensor([[0.0, -0.75, 0.0], [0.25, 0.0, 0.0], [-0.75, 0.25, 0.0]])
    torch.testing.assert_close(regulator_normalised(effects), expected)


@pytest.mark.parametrize("options, message", [
    ({"method": "shake"}, "unknown perturbation method"),
    ({"method": "knockout"}, "needs knockout_values"),
    ({"method": "jacobian", "reduce": "max"}, "unknown reduction"),
    ({"method": "raise", "step": 0.0}, "non-zero step"),
])
def test_bad_options_are_named(model, cells, options, message):
    with pytest.raises(ValueError, match=message):
        perturbation_effects(model, [cells], N_GENES, **options)


@pytest.mark.parametrize("method", ["knockout", "raise"])
@pytest.mark.parametrize("always_hidden", [None, [False, False, True, False, True, True]])
def test_masked_perturbation_of_listed_regulators_matches_a_cell_by_cell_loop(always_hidden, method):
    """Each pass hides half the genes (half of those not always hidden, and those); every visible listed
    regulator is knocked out (or raised by a step) in turn and its effect on each hidden target averaged, here
    cell by cell, regulator by regulator, target by target in float64."""
    torch.manual_seed(0)
    n_genes, n_cells, regulators, knocked_level, step = 6, 5, [1, 3], -1.5, 0.5
    model = GRNTransformer(n_genes, width=16, heads=2, depth=1, normaliser="l2").eval()
    values, gene_ids = torch.randn(n_cells, n_genes), torch.arange(n_genes).expand(n_cells, n_genes)
    loader = [(gene_ids, values, torch.zeros(n_cells, n_genes, dtype=torch.bool))]
    knockout = torch.full((n_genes,), knocked_level)
    mean, magnitude = masked_perturbation_effects(model, loader, n_genes, regulators, mask_fraction=0.5,
                                                  method=method, knockout_values=knockout, step=step, n_masks=3,
                                                  seed=7, token_budget=12,  # 2 regulators per pass, cut to 1
                                                  always_hidden=always_hidden)
    generator = torch.Generator().manual_seed(7)
    fixed = torch.zeros(n_genes, dtype=torch.bool) if always_hidden is None else torch.tensor(always_hidden)
    drawn_from = np.flatnonzero(~fixed.numpy())
    signed, absolute, counts = (torch.zeros(n_genes, 2, dtype=torch.float64) for _ in range(3))
    with torch.no_grad():
        for _ in range(3):
            draws = torch.rand(n_cells, n_genes, generator=generator)
            hidden = fixed.repeat(n_cells, 1)
            for cell in range(n_cells):  # the half of the other genes with the smallest draws
                ranked = drawn_from[np.argsort(draws[cell, drawn_from].numpy(), kind="stable")]
                hidden[cell, ranked[:round(0.5 * len(drawn_from))]] = True
            assert (hidden[:, fixed]).all() and (hidden.sum(1) == int(fixed.sum()) + round(0.5 * len(drawn_from))).all()
            for cell in range(n_cells):
                one = slice(cell, cell + 1)
                base = model(gene_ids[one], values[one], hidden[one])[0]
                for column, regulator in enumerate(regulators):
                    if hidden[cell, regulator]:
                        continue
                    moved = values[one].clone()
                    moved[0, regulator] = knocked_level if method == "knockout" else moved[0, regulator] + step
                    shifted = model(gene_ids[one], moved, hidden[one])[0]
                    for target in np.flatnonzero(hidden[cell].numpy()):
                        if method == "knockout":
                            effect = float(base[target] - shifted[target])
                        else:
                            effect = float(shifted[target] - base[target]) / step
                        signed[target, column] += effect
                        absolute[target, column] += abs(effect)
                        counts[target, column] += 1
    assert counts.sum() > 0
    torch.testing.assert_close(mean.double(), signed / counts.clamp(min=1), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(magnitude.double(), absolute / counts.clamp(min=1), atol=1e-5, rtol=1e-4)
