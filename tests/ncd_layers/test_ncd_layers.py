"""Each layer diagram, lowered, against an independent hand-written float64 torch reference that reads
the same parameters; the fused lowering against the unfused reading; the fused kernels actually used."""
import math

import pytest
import torch
import torch.nn.functional as F

import kernels
from ncd_layers import Axis, TransformerAxes, attention_core, lower, mlp, multi_head_attention, transformer_block

B, N, WIDTH, HEADS = 3, 5, 8, 2
b = Axis("b")
AX = TransformerAxes.make(WIDTH, HEADS, mlp_ratio=2)


def linear(module, name, t):
    layer = module.maps[name]
    return t @ layer.weight.T + layer.bias


def layer_norm(module, name, t):
    layer = module.maps[name]
    centred = t - t.mean(-1, keepdim=True)
    return centred / torch.sqrt((centred * centred).mean(-1, keepdim=True) + 1e-5) * layer.weight + layer.bias


def reference_attention(module, t, normaliser, mask, prefix=""):
    """Multi-head attention written out: per-head scores, masked normalisation over keys, mixing."""
    heads = lambda name: linear(module, prefix + name, t).reshape(B, N, HEADS, -1).transpose(1, 2)
    q, k, v = heads("q"), heads("k"), heads("v")
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    real = torch.ones(B, N, dtype=torch.bool) if mask is None else mask
    real = real[:, None, None, :]
    if normaliser == "softmax":
        w = torch.nan_to_num(torch.softmax(s.masked_fill(~real, -math.inf), -1))  # no real key: zeros
    else:
        s = s * real
        w = s / torch.sqrt((s * s).sum(-1, keepdim=True) + 1e-6)
    mixed = (w @ v).transpose(1, 2).reshape(B, N, WIDTH)
    return linear(module, prefix + "o", mixed)


def reference_mlp(module, t, prefix=""):
    up = linear(module, prefix + "up", t)
    return linear(module, prefix + "down", 0.5 * up * (1 + torch.erf(up / math.sqrt(2))))


def reference_block(module, t, normaliser, mask, prefix=""):
    t = t + reference_attention(module, layer_norm(module, prefix + "attention_norm", t), normaliser, mask, prefix)
    return t + reference_mlp(module, layer_norm(module, prefix + "mlp_norm", t), prefix)


def padding_mask():
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[1, 3:] = False
    mask[2] = False  # a cell with no real gene: its rows must come out zero, not NaN
    return mask


def lowered(diagram, fuse):
    torch.manual_seed(0)
    return lower(diagram, fuse=fuse).double()


def inputs():
    torch.manual_seed(1)
    return torch.randn(B, N, WIDTH, dtype=torch.float64)


EXACT = dict(rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("normaliser", ["l2", "softmax"])
@pytest.mark.parametrize("fuse", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
def test_attention_matches_reference(normaliser, fuse, with_mask):
    module = lowered(multi_head_attention(AX, normaliser).over(b), fuse)
    t, mask = inputs(), padding_mask() if with_mask else None
    out = module(t, key_padding_mask=mask)
    torch.testing.assert_close(out, reference_attention(module, t, normaliser, mask), **EXACT)


def test_mlp_matches_reference():
    module = lowered(mlp(AX).over(b), fuse=True)
    t = inputs()
    torch.testing.assert_close(module(t), reference_mlp(module, t), **EXACT)


@pytest.mark.parametrize("normaliser", ["l2", "softmax"])
def test_block_matches_reference(normaliser):
    module = lowered(transformer_block(AX, normaliser, prefix="block1_").over(b), fuse=True)
    t, mask = inputs(), padding_mask()
    torch.testing.assert_close(module(t, key_padding_mask=mask),
                               reference_block(module, t, normaliser, mask, "block1_"), **EXACT)


@pytest.mark.parametrize("normaliser", ["l2", "softmax"])
def test_fused_lowering_equals_unfused_reading_with_gradients(normaliser):
    """In float32 through whatever kernels.flashsign dispatches to (head width 16 has a Triton kernel)."""
    diagram = transformer_block(TransformerAxes.make(32, 2), normaliser, prefix="block1_").over(b)
    fused, unfused = lower(diagram, fuse=True), lower(diagram, fuse=False)
    unfused.load_state_dict(fused.state_dict())
    t, mask = torch.randn(B, N, 32), padding_mask()
    outs, grads = [], []
    for module in (fused, unfused):
        x = t.clone().requires_grad_()
        out = module(x, key_padding_mask=mask)
        out.square().sum().backward()
        outs.append(out)
        grads.append(x.grad)
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-4)
    assert torch.isfinite(grads[0]).all()


def test_attention_lowers_to_flashsign_and_sdpa(monkeypatch):
    calls = []

    def spy(name, real):
        def wrapped(q, k, v, *args, **kwargs):
            calls.append((name, tuple(q.shape)))
            return real(q, k, v, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(kernels, "flashsign", spy("flashsign", kernels.flashsign))
    monkeypatch.setattr(F, "scaled_dot_product_attention", spy("sdpa", F.scaled_dot_product_attention))
    t = inputs()
    for normaliser, expected in (("l2", "flashsign"), ("softmax", "sdpa")):
        calls.clear()
        fused = lowered(multi_head_attention(AX, normaliser).over(b), fuse=True)
        assert len(fused.graph.nodes) == 5  # q, k, v, one fused attention box, o
        fused(t, key_padding_mask=padding_mask())
        assert calls == [(expected, (B, HEADS, N, WIDTH // HEADS))]
        calls.clear()
        unfused = lowered(multi_head_attention(AX, normaliser).over(b), fuse=False)
        assert len(unfused.graph.nodes) == 7 and unfused.fused_attention() == []
        unfused(t)
        assert calls == []


def test_fused_kernel_is_hookable_with_q_k_v_and_mask():
    module = lowered(multi_head_attention(AX, "l2").over(b), fuse=True)
    seen = []
    (kernel,) = module.fused_attention()
    kernel.register_forward_hook(lambda mod, args, out: seen.append(args))
    t, mask = inputs(), padding_mask()
    module(t, key_padding_mask=mask)
    q, k, v, passed_mask = seen[0]
    expected_q = linear(module, "q", t).reshape(B, N, HEADS, -1).transpose(1, 2)
    torch.testing.assert_close(q, expected_q, **EXACT)
    assert passed_mask is mask and k.shape == v.shape == (B, HEADS, N, WIDTH // HEADS)


def test_pattern_with_another_score_scale_is_not_fused():
    """The kernels apply exactly 1/sqrt(D); any other scale must stay an unfused reading."""
    core = attention_core(AX, "l2").over(b)
    assert len(lower(core).graph.nodes) == 1
    x, y, h, k = AX.tokens, AX.keys, AX.heads, AX.head_width
    from ncd_layers import Contraction, identity, normalise
    unscaled = ((Contraction("scores", ((x, h, k), (y, h, k)), (h, x, y)) @ identity((y, h, k)))
                >> (normalise(y, "l2").over(h, x) @ identity((y, h, k)))
                >> Contraction("mix", ((h, x, y), (y, h, k)), (x, h, k))).over(b)
    assert len(lower(unscaled).graph.nodes) == 3


@pytest.mark.parametrize("normaliser", ["l2", "softmax"])
def test_rows_without_real_keys_are_zero_and_gradients_finite(normaliser):
    module = lower(multi_head_attention(AX, normaliser).over(b))
    t = inputs().float().requires_grad_()
    mask = torch.zeros(B, N, dtype=torch.bool)
    mask[0, :2] = True
    out = module(t, key_padding_mask=mask)
    out.sum().backward()
    bias = module.maps["o"].bias
    torch.testing.assert_close(out[1:], bias.expand(B - 1, N, WIDTH))  # attention gave zeros, only o's bias left
    assert torch.isfinite(t.grad).all()


def test_dropout_is_a_box_that_acts_only_in_training():
    diagram = transformer_block(AX, "softmax", prefix="block1_", dropout=0.5).over(b)
    assert sum(box.name == "dropout" for box in diagram.boxes()) == 2
    plain = lowered(transformer_block(AX, "softmax", prefix="block1_").over(b), fuse=True)
    with_dropout = lowered(diagram, fuse=True)
    with_dropout.load_state_dict(plain.state_dict())
    t = inputs()
    torch.testing.assert_close(with_dropout.eval()(t), plain(t), **EXACT)
    assert not torch.allclose(with_dropout.train()(t), plain(t))
