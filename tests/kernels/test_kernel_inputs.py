"""FlashSign on bad or awkward input: every case either raises an error that names the problem,
or takes a documented path (reference fallback with a warning, zeros for rows without real keys)
whose result is checked against the float64 reference."""
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

import kernels.flashsign_api as api
from kernels import flashsign, spherical_attention_reference
from test_flashsign import TOLERANCE, relative_error
from test_flashsign import both_forms, kernel_form, poisoned_outputs  # noqa: F401  (fixtures: NaN outputs, both forms)

SHAPE = (2, 3, 9, 16)
FP16_MAX = torch.finfo(torch.float16).max


@pytest.fixture(autouse=True)
def on_kernel_device():
    """Tensors are made where the kernels run: CUDA when present, else the CPU (interpreter)."""
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        yield


@pytest.fixture
def fresh_warnings(monkeypatch):
    """The fallback warns once per reason per process: forget earlier warnings."""
    monkeypatch.setattr(api, "_warned", set())


@pytest.fixture
def no_fallback(monkeypatch):
    """Fail if flashsign quietly answers with the torch reference instead of the kernel."""
    def refuse(*args, **kwargs):
        raise AssertionError("flashsign fell back to the torch reference")

    monkeypatch.setattr(api, "spherical_attention_reference", refuse)


def qkv(shape=SHAPE, dtype=torch.float32, scale=1.0):
    return [(torch.randn(shape) * scale).to(dtype).requires_grad_() for _ in range(3)]


def float64_reference(q, k, v, mask=None, grad_out=None):
    """Output (and, given grad_out, input gradients) of the reference on float64 copies."""
    q64, k64, v64 = (x.detach().double().requires_grad_() for x in (q, k, v))
    out = spherical_attention_reference(q64, k64, v64, key_padding_mask=mask)
    if grad_out is None:
        return out
    out.backward(grad_out.double())
    return out, q64.grad, k64.grad, v64.grad


def assert_matches_float64(q, k, v, mask=None):
    """flashsign's output and q, k, v gradients within the dtype's bound of the float64 reference."""
    out = flashsign(q, k, v, key_padding_mask=mask)
    grad_out = torch.randn_like(out)
    out.backward(grad_out)
    expected = float64_reference(q, k, v, mask, grad_out)
    tol = TOLERANCE[q.dtype]
    for name, actual, ref in zip(("out", "dq", "dk", "dv"), (out, q.grad, k.grad, v.grad), expected):
        assert torch.isfinite(actual).all(), f"{name} is not finite"
        err = relative_error(actual, ref)
        assert err < tol, f"{name}: relative error {err:.1e} over {tol:.0e}"


# ------------------------------------------------------------------------------ errors named

@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool], ids=str)
def test_non_floating_dtype_is_named(dtype):
    x = torch.ones(SHAPE, dtype=dtype)
    with pytest.raises(TypeError, match=f"floating dtype, got {dtype}, {dtype}, {dtype}"):
        flashsign(x, x, x)


def test_mixed_dtypes_are_named():
    q, k, v = torch.randn(SHAPE), torch.randn(SHAPE).half(), torch.randn(SHAPE)
    with pytest.raises(TypeError, match="got torch.float32, torch.float16, torch.float32"):
        flashsign(q, k, v)


@pytest.mark.parametrize("axis", range(4), ids="BHND")
@pytest.mark.parametrize("culprit", ["k", "v"])
def test_shape_mismatch_names_every_shape(axis, culprit):
    odd = list(SHAPE)
    odd[axis] += 1
    args = dict(q=torch.randn(SHAPE), k=torch.randn(SHAPE), v=torch.randn(SHAPE))
    args[culprit] = torch.randn(odd)
    with pytest.raises(ValueError, match="share one") as error:
        flashsign(**args)
    assert str(SHAPE) in str(error.value) and str(tuple(odd)) in str(error.value)


def test_three_dimensional_input_is_named():
    x = torch.randn(3, 9, 16)
    with pytest.raises(ValueError, match=r"\(B, H, N, D\) shape, got \(3, 9, 16\)"):
        flashsign(x, x, x)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.float32], ids=str)
def test_mask_of_wrong_dtype_is_named(dtype):
    q, k, v = qkv()
    with pytest.raises(TypeError, match=f"key_padding_mask must be bool.*got {dtype}"):
        flashsign(q, k, v, key_padding_mask=torch.ones(SHAPE[0], SHAPE[2], dtype=dtype))


@pytest.mark.parametrize("mask_shape", [(2, 10), (3, 9), (9,), (2, 1, 9), (9, 2)])
def test_mask_of_wrong_shape_is_named(mask_shape):
    q, k, v = qkv()
    with pytest.raises(ValueError, match=re.escape(f"(B, N) = (2, 9), got {mask_shape}")):
        flashsign(q, k, v, key_padding_mask=torch.ones(mask_shape, dtype=torch.bool))


def test_inputs_on_different_devices_are_named():
    q, k, v = qkv()
    with pytest.raises(ValueError, match=f"one device, got {q.device}, meta, {q.device}"):
        flashsign(q, k.to("meta"), v)
    with pytest.raises(ValueError, match=f"key_padding_mask is on meta, q on {q.device}"):
        flashsign(q, k, v, key_padding_mask=torch.ones(2, 9, dtype=torch.bool, device="meta"))


@pytest.mark.parametrize("eps", [0.0, -1e-6, float("nan")])
def test_eps_that_is_not_positive_is_named(eps):
    q, k, v = qkv()
    with pytest.raises(ValueError, match=f"eps must be positive.*got {eps}"):
        flashsign(q, k, v, eps=eps)


# ------------------------------------------------------------------- documented fallbacks

@pytest.mark.parametrize("dtype, head_dim, reason", [
    (torch.float32, 96, "head dim 96"), (torch.float16, 8, "head dim 8"), (torch.float64, 16, "dtype torch.float64"),
])
def test_unsupported_case_warns_once_and_equals_the_reference(fresh_warnings, dtype, head_dim, reason):
    q, k, v = qkv((2, 3, 9, head_dim), dtype)
    with pytest.warns(UserWarning, match=f"no Triton kernel for {reason}.*; using the torch reference"):
        out = flashsign(q, k, v)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = flashsign(q, k, v)
    torch.testing.assert_close(out, spherical_attention_reference(q, k, v), rtol=0, atol=0)
    torch.testing.assert_close(again, out, rtol=0, atol=0)


def test_head_dim_96_falls_back_to_an_accurate_differentiable_result(fresh_warnings):
    q, k, v = qkv((2, 2, 30, 96))
    mask = torch.rand(2, 30) > 0.3
    with pytest.warns(UserWarning, match="head dim 96"):
        assert_matches_float64(q, k, v, mask)


# -------------------------------------------------------------- awkward but supported input

def non_contiguous(kind, dtype=torch.float16):
    """q, k, v of shape (2, 3, 45, 32): views of leaves made in `dtype`, never contiguous; their
    .grad is kept, so it is the gradient of each view."""
    b, h, n, d = 2, 3, 45, 32

    def leaf(*shape):
        return torch.randn(shape).to(dtype).requires_grad_()

    if kind == "transposed":  # (B, N, H, D) storage, as after a head split
        views = [leaf(b, n, h, d).transpose(1, 2) for _ in range(3)]
    elif kind == "every_other_feature":
        views = [leaf(b, h, n, 2 * d)[..., ::2] for _ in range(3)]
    elif kind == "packed_qkv_slice":  # slices of one (B, N, 3, H, D) projection
        views = [x.transpose(1, 2) for x in leaf(b, n, 3, h, d).unbind(2)]
    elif kind == "broadcast_heads":  # one head's values seen by every head (stride 0)
        views = [leaf(b, 1, n, d).expand(b, h, n, d) for _ in range(3)]
    for x in views:
        assert not x.is_contiguous()
        x.retain_grad()
    return views


@both_forms
@pytest.mark.parametrize("kind", ["transposed", "every_other_feature", "packed_qkv_slice", "broadcast_heads"])
def test_non_contiguous_inputs_give_correct_results_on_the_kernel(no_fallback, kind):
    q, k, v = non_contiguous(kind)
    mask = torch.rand(2, 45) > 0.3
    assert_matches_float64(q, k, v, mask)


@both_forms
@pytest.mark.parametrize("mask_kind", ["column_slice", "transposed", "broadcast_batch"])
def test_non_contiguous_mask_gives_correct_results_on_the_kernel(no_fallback, mask_kind):
    q, k, v = qkv((2, 2, 37, 16))
    if mask_kind == "column_slice":
        mask = (torch.rand(2, 74) > 0.3)[:, 1::2]
    elif mask_kind == "transposed":
        mask = (torch.rand(37, 2) > 0.3).t()
    else:
        mask = (torch.rand(1, 37) > 0.3).expand(2, 37)
    assert not mask.is_contiguous()
    assert_matches_float64(q, k, v, mask)


@both_forms
@pytest.mark.parametrize("dtype", list(TOLERANCE), ids=str)
def test_all_keys_masked_gives_zeros_and_zero_gradients(no_fallback, dtype):
    # Masked keys hold large values: they must not leak into the output or the gradients.
    q, k, v = qkv((2, 2, 21, 32), dtype, scale=100.0)
    mask = torch.zeros(2, 21, dtype=torch.bool)
    out = flashsign(q, k, v, key_padding_mask=mask)
    out.backward(torch.randn_like(out))
    for name, x in [("out", out), ("dq", q.grad), ("dk", k.grad), ("dv", v.grad)]:
        assert torch.isfinite(x).all(), f"{name} is not finite"
        assert torch.count_nonzero(x) == 0, f"{name} is not zero"


@both_forms
def test_empty_sequences_and_batches_give_empty_results(no_fallback):
    for shape in [(1, 2, 0, 16), (0, 2, 5, 16), (2, 0, 5, 16)]:
        q, k, v = qkv(shape)
        out = flashsign(q, k, v)
        out.sum().backward()
        assert out.shape == shape and q.grad.shape == shape


# ---------------------------------------------------------------- fp16 of extreme magnitude

def fp16_scores_of_magnitude(scale, head_dim, n=50):
    """fp16 q, k, v of std `scale`: scores s = q.k / sqrt(D) have std scale^2."""
    q, k, v = qkv((1, 2, n, head_dim), torch.float16, scale)
    top = (q.double() @ k.double().transpose(-1, -2) / head_dim ** 0.5).abs().max().item()
    return (q, k, v), top


@both_forms
def test_fp16_scores_of_magnitude_1e4_are_accurate(no_fallback):
    # sum_j s_ij^2 ~ 1e9 is far beyond fp16, but the kernel accumulates it in fp32.
    (q, k, v), top = fp16_scores_of_magnitude(scale=80.0, head_dim=64)
    assert 1e4 < top < FP16_MAX
    assert_matches_float64(q, k, v, torch.rand(1, 50) > 0.2)


def test_fp16_fallback_with_scores_of_magnitude_1e4_is_accurate(fresh_warnings):
    (q, k, v), top = fp16_scores_of_magnitude(scale=80.0, head_dim=96)
    assert 1e4 < top < FP16_MAX
    with pytest.warns(UserWarning, match="head dim 96"):
        assert_matches_float64(q, k, v)


def test_fp16_scores_beyond_fp16_range_stay_accurate_in_gram_form(no_fallback, kernel_form):
    (q, k, v), top = fp16_scores_of_magnitude(scale=300.0, head_dim=64)
    assert top > FP16_MAX
    out = flashsign(q, k, v)
    accurate = bool(torch.isfinite(out).all()) and relative_error(out, float64_reference(q, k, v)) < TOLERANCE[torch.float16]
    if kernel_form == "gram":  # no score is ever formed: only fp32 Gram sums
        assert accurate
    else:  # a known limit, kept visible: this fails once the streamed form is fixed
        assert not accurate, "the streamed form now handles fp16 scores beyond 65504: make this a plain check"
        pytest.xfail("streamed form: fp16 scores beyond 65504 overflow when s is rounded to fp16 for s V (NaN)")


# ---------------------------------------------------------------------- offsets past 2^31

# Views whose batch stride is 2^30 elements (an int32 kernel argument): batch 2 starts at element
# 2^31. Run in a child process: a 32-bit offset wraps negative and the load segfaults there.
HUGE_OFFSETS = textwrap.dedent("""
    import sys
    import torch
    from kernels import flashsign, spherical_attention_reference
    n, d, batch_stride = 8, 16, 2 ** 30
    device = "cuda" if torch.cuda.is_available() else "cpu"
    storage = torch.empty(2 * batch_stride + 3 * n * d, dtype=torch.float16, device=device)
    for b in range(3):  # only these elements are touched: the rest stays unallocated virtual memory
        storage[b * batch_stride:b * batch_stride + 3 * n * d] = torch.randn(3 * n * d)
    q, k, v = (storage.as_strided((3, 1, n, d), (batch_stride, 3 * n * d, d, 1), i * n * d) for i in range(3))
    out = flashsign(q, k, v, method=sys.argv[1])
    expected = spherical_attention_reference(q.double(), k.double(), v.double())
    err = ((out.double() - expected).norm() / expected.norm()).item()
    assert err < 2e-3, f"relative error {err:.1e}"
""")


@pytest.mark.parametrize("method", ["stream", "gram"])
def test_offsets_past_2_31_elements_address_correctly(method):
    child = subprocess.run([sys.executable, "-c", HUGE_OFFSETS, method], capture_output=True, text=True,
                           timeout=300, cwd=Path(__file__).parents[2])
    assert child.returncode == 0, f"exit {child.returncode}: {child.stderr[-2000:]}"
