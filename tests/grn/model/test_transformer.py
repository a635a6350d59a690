"""The GRN transformer: one diagram, lowered; checked against a hand-written float64 forward."""
import math
import time

import pytest
import torch

import kernels
from grn.model.transformer import GRNTransformer, grn_transformer
from ncd_layers import Normalise

N_GENES, B, N, WIDTH, HEADS, DEPTH = 20, 4, 6, 32, 2, 2


def reference_forward(model, gene_ids, values, hidden, mask, normaliser):
    """The GRN transformer written out by hand, reading the lowered module's parameters by name."""
    p = model.net.maps
    lin = lambda name, t: t @ p[name].weight.T + p[name].bias

    def norm(name, t):
        c = t - t.mean(-1, keepdim=True)
        return c / torch.sqrt((c * c).mean(-1, keepdim=True) + 1e-5) * p[name].weight + p[name].bias

    def attention(prefix, t):
        heads = lambda name: lin(prefix + name, t).reshape(B, N, HEADS, -1).transpose(1, 2)
        q, k, v = heads("q"), heads("k"), heads("v")
        s = q @ k.transpose(-1, -2) / math.sqrt(WIDTH // HEADS)
        real = mask[:, None, None, :]
        if normaliser == "softmax":
            w = torch.softmax(s.masked_fill(~real, -math.inf), -1)
        else:
            s = s * real
            w = s / torch.sqrt((s * s).sum(-1, keepdim=True) + 1e-6)
        return lin(prefix + "o", (w @ v).transpose(1, 2).reshape(B, N, WIDTH))

    hide = hidden.double()
    channels = torch.stack([values * (1 - hide), hide], -1)
    t = p["gene_embedding"].weight[gene_ids] + lin("value_embedding", channels)
    for i in range(1, DEPTH + 1):
        prefix = f"block{i}_"
        t = t + attention(prefix, norm(prefix + "attention_norm", t))
        up = lin(prefix + "up", norm(prefix + "mlp_norm", t))
        t = t + lin(prefix + "down", 0.5 * up * (1 + torch.erf(up / math.sqrt(2))))
    return lin("readout", norm("final_norm", t)).squeeze(-1)


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    gene_ids = torch.randint(0, N_GENES, (B, N), generator=g)
    values = torch.randn(B, N, generator=g, dtype=torch.float64)
    hidden = torch.rand(B, N, generator=g) < 0.3
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[1, 4:] = False
    return gene_ids, values, hidden, mask


@pytest.mark.parametrize("normaliser", ["l2", "softmax"])
def test_model_matches_hand_written_float64_forward(normaliser):
    torch.manual_seed(0)
    model = GRNTransformer(N_GENES, WIDTH, HEADS, DEPTH, normaliser=normaliser).double()
    gene_ids, values, hidden, mask = batch()
    out = model(gene_ids, values, hidden, key_padding_mask=mask)
    assert out.shape == (B, N)
    # float64 runs the torch reference (FlashSign's kernels take fp16/bf16/fp32) and SDPA in float64.
    torch.testing.assert_close(out, reference_forward(model, gene_ids, values, hidden, mask, normaliser),
                               rtol=1e-10, atol=1e-12)


def test_flipping_the_normaliser_changes_only_the_normaliser_boxes():
    spherical = list(grn_transformer(N_GENES, WIDTH, HEADS, DEPTH, normaliser="l2").boxes())
    softmax = list(grn_transformer(N_GENES, WIDTH, HEADS, DEPTH, normaliser="softmax").boxes())
    assert len(spherical) == len(softmax)
    changed = [(a, c) for a, c in zip(spherical, softmax) if a != c]
    assert len(changed) == DEPTH
    assert all(isinstance(a, Normalise) and a.kind == "l2" and c.kind == "softmax" for a, c in changed)


def test_bad_configuration_is_rejected_by_name():
    with pytest.raises(ValueError, match=r"normaliser must be one of \('l2', 'softmax'\), got 'relu'"):
        grn_transformer(N_GENES, normaliser="relu")
    with pytest.raises(ValueError, match="width 30 must be divisible by heads 4"):
        grn_transformer(N_GENES, width=30, heads=4)


@pytest.mark.parametrize("normaliser", ["l2", "softmax"])
def test_padding_tokens_do_not_reach_real_tokens(normaliser):
    torch.manual_seed(0)
    model = GRNTransformer(N_GENES, WIDTH, HEADS, DEPTH, normaliser=normaliser).double()
    gene_ids, values, hidden, mask = batch()
    out = model(gene_ids, values, hidden, key_padding_mask=mask)
    scrambled_ids, scrambled_values = gene_ids.clone(), values.clone()
    scrambled_ids[1, 4:] = (gene_ids[1, 4:] + 1) % N_GENES
    scrambled_values[1, 4:] += 5.0
    again = model(scrambled_ids, scrambled_values, hidden, key_padding_mask=mask)
    torch.testing.assert_close(again[mask], out[mask], rtol=1e-12, atol=1e-12)
    assert not torch.allclose(again[1, 4:], out[1, 4:])


def test_attention_layers_expose_q_k_and_mask_in_depth_order():
    torch.manual_seed(0)
    model = GRNTransformer(N_GENES, WIDTH, HEADS, DEPTH, normaliser="l2")
    layers = model.attention_layers()
    assert len(layers) == DEPTH
    seen = []
    for i, layer in enumerate(layers):
        layer.register_forward_hook(lambda mod, args, out, i=i: seen.append((i, args[0], args[1], args[3])))
    gene_ids, values, hidden, mask = batch()
    model(gene_ids, values.float(), hidden, key_padding_mask=mask)
    assert [i for i, *_ in seen] == list(range(DEPTH))
    for _, q, k, passed in seen:
        assert q.shape == k.shape == (B, HEADS, N, WIDTH // HEADS) and passed is mask


@pytest.fixture
def one_thread():
    """Time the model, not OpenMP: with other work on the cores, torch's spinning threads can cost 100x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_tiny_model_trains_a_step_fast_on_cpu(monkeypatch, one_thread):
    # A plain CPU run uses flashsign's torch path; pytest's conftest turns on Triton's (slow) interpreter.
    monkeypatch.setattr(kernels, "flashsign", kernels.spherical_attention_reference)
    torch.manual_seed(0)
    model = GRNTransformer(50, width=32, heads=2, depth=2)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    gene_ids, values = torch.randint(0, 50, (16, 12)), torch.randn(16, 12)
    hidden = torch.rand(16, 12) < 0.3
    losses, times = [], []
    for _ in range(4):
        start = time.perf_counter()
        loss = (model(gene_ids, values, hidden) - values)[hidden].square().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        times.append(time.perf_counter() - start)
        losses.append(loss.item())
    assert min(times) < 0.25
    assert losses[-1] < losses[0]


def test_cpu_autocast_bfloat16_runs():
    model = GRNTransformer(N_GENES, WIDTH, HEADS, DEPTH, normaliser="softmax")
    gene_ids, values, hidden, mask = batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(gene_ids, values.float(), hidden, key_padding_mask=mask)
    assert torch.isfinite(out).all()


@pytest.mark.gpu
@pytest.mark.parametrize("normaliser", ["l2", "softmax"])
def test_cuda_bf16_autocast_agrees_with_float32(normaliser):
    torch.manual_seed(0)
    model = GRNTransformer(N_GENES, 64, 4, DEPTH, normaliser=normaliser).cuda()
    gene_ids, values, hidden, mask = (t.cuda() for t in batch())
    values = values.float()
    exact = model(gene_ids, values, hidden, key_padding_mask=mask)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        fast = model(gene_ids, values, hidden, key_padding_mask=mask)
    fast.float().sum().backward()
    torch.testing.assert_close(fast.float(), exact, rtol=5e-2, atol=5e-2)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_gene_coupling_adds_each_visible_genes_weighted_value():
    torch.manual_seed(0)
    model = GRNTransformer(N_GENES, WIDTH, HEADS, 1, gene_coupling=True).double()
    without = GRNTransformer(N_GENES, WIDTH, HEADS, 1).double()
    without.net.load_state_dict(model.net.state_dict())
    with torch.no_grad():
        model.coupling.weight.normal_()
    g = torch.Generator().manual_seed(1)
    gene_ids = torch.stack([torch.randperm(N_GENES, generator=g)[:N] for _ in range(B)])  # a gene once per cell
    _, values, hidden, mask = batch()
    gene_ids[1, 4:] = gene_ids[1, 0]  # padding tokens that carry the id of a real, visible gene of their cell
    hidden[1, 0] = False
    weight = model.coupling.weight
    expected = torch.zeros(B, N, dtype=torch.float64)
    for b in range(B):
        for i in range(N):
            for j in range(N):
                if j != i and mask[b, j] and not hidden[b, j]:
                    expected[b, i] += weight[gene_ids[b, j], gene_ids[b, i]] * values[b, j]
    added = model(gene_ids, values, hidden, mask) - without(gene_ids, values, hidden, mask)
    torch.testing.assert_close(added[mask], expected[mask], rtol=1e-12, atol=1e-12)  # padding is never scored


def test_gene_coupling_objective_is_each_targets_ridge_regression():
    """With the attention's read-out at zero, the training objective over the coupling is, target by target, a
    ridge regression on the genes visible in the cells where that target is hidden: its gradient vanishes at the
    ridge solutions written out here (to float32's precision: the masked loss is taken in float32)."""
    from grn.model.module import GRNModule
    torch.manual_seed(0)
    n_genes, cells, l2 = 6, 40, 0.5
    module = GRNModule(n_genes, width=8, heads=2, depth=1, gene_coupling=True, coupling_l2=l2).double()
    readout = module.model.net.maps["readout"]
    with torch.no_grad():
        readout.weight.zero_(), readout.bias.zero_()
    gene_ids = torch.arange(n_genes).expand(cells, n_genes)
    values = torch.randn(cells, n_genes, dtype=torch.float64)
    values[:, 0] += values[:, 1] - 0.5 * values[:, 2]
    hidden = torch.rand(cells, n_genes, generator=torch.Generator().manual_seed(2)) < 0.4
    scored = int(hidden.sum())
    ridge = torch.zeros(n_genes, n_genes, dtype=torch.float64)
    for target in range(n_genes):
        cells_hidden = hidden[:, target]
        visible = (values * ~hidden)[cells_hidden]
        others = [gene for gene in range(n_genes) if gene != target]  # its own value is never visible
        visible = visible[:, others]
        gram = visible.T @ visible / scored + l2 / n_genes * torch.eye(n_genes - 1, dtype=torch.float64)
        ridge[others, target] = torch.linalg.solve(gram, visible.T @ values[cells_hidden, target] / scored)

    def gradient(weight):
        with torch.no_grad():
            module.model.coupling.weight.copy_(weight)
        module.zero_grad()
        (module._masked_loss((gene_ids, values, hidden)) + module._coupling_penalty()).backward()
        return module.model.coupling.weight.grad.clone()

    at_zero, at_ridge = gradient(torch.zeros_like(ridge)), gradient(ridge)
    assert at_zero.norm() > 0.1
    assert at_ridge.norm() < 1e-6 * at_zero.norm()
    perturbed = ridge + 0.01 * torch.randn_like(ridge) * (1 - torch.eye(n_genes, dtype=torch.float64))
    assert gradient(perturbed).norm() > 1e-3 * at_zero.norm()  # the check can fail: elsewhere it does not vanish


def test_coupling_first_steps_train_the_coupling_alone_then_only_the_rest():
    """Two steps with the coupling alone (the attention's parameters stay as they were), then two with the coupling
    frozen (only the attention's parameters move); the step counter picks the phase, so a resumed run keeps it."""
    import lightning as L
    from grn.model.module import GRNModule
    torch.manual_seed(0)
    n_genes, cells = 6, 16
    values = torch.randn(cells, n_genes)
    hidden = torch.rand(cells, n_genes, generator=torch.Generator().manual_seed(3)) < 0.4
    data = torch.utils.data.TensorDataset(torch.arange(n_genes).expand(cells, n_genes), values, hidden)
    module = GRNModule(n_genes, width=8, heads=2, depth=1, gene_coupling=True, coupling_first_steps=2)
    snapshots = []

    class Snapshot(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            snapshots.append({name: p.detach().clone() for name, p in pl_module.named_parameters()})

    start = {name: p.detach().clone() for name, p in module.named_parameters()}
    trainer = L.Trainer(max_steps=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[Snapshot()], accelerator="cpu")
    trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=8))

    def moved(before, after, coupling):
        return [not torch.equal(before[name], after[name])
                for name in before if name.endswith("coupling.weight") == coupling]

    for before, after in zip([start, snapshots[0]], snapshots[:2]):
        assert all(moved(before, after, coupling=True)) and not any(moved(before, after, coupling=False))
    for before, after in zip(snapshots[1:3], snapshots[2:4]):
        assert not any(moved(before, after, coupling=True)) and any(moved(before, after, coupling=False))


def test_coupling_first_steps_need_the_coupling():
    from grn.model.module import GRNModule
    with pytest.raises(ValueError, match="gene_coupling"):
        GRNModule(6, width=8, heads=2, depth=1, coupling_first_steps=10)
