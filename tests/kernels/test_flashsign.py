"""FlashSign against a float64 torch reference: outputs and the gradients of q, k and v.

On CPU the Triton kernels run on the interpreter at small sizes; tests marked `gpu` repeat the
comparison at full sizes. Every case draws fresh inputs (seeded by the test's id), and every
kernel output buffer is poisoned with NaN first, so an element the kernels forget to write fails.
"""
import warnings
import zlib

import pytest
import torch

import kernels.flashsign_api as api
import kernels.flashsign_gram as gram_form
import kernels.triton_common as common
from kernels import replay
from kernels import flashsign, spherical_attention_gram, spherical_attention_reference

# ||out - ref|| / ||ref|| bounds against float64 (METHOD.md): fp32 (full-precision dots) far under
# 1e-3; fp16 carries 3 more mantissa bits than bf16; bf16 between 1e-3 and 1e-2.
TOLERANCE = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1e-2}
DTYPES = list(TOLERANCE)


@pytest.fixture(autouse=True)
def fresh_seed(request):
    torch.manual_seed(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(autouse=True)
def poisoned_outputs(monkeypatch):
    """Kernel outputs start as NaN, in Python and in the C++ replay (kernels/replay.py)."""
    allocate = common.empty
    monkeypatch.setattr(common, "empty", lambda *args: allocate(*args).fill_(float("nan")))
    extension = replay._extension() if torch.cuda.is_available() else None
    if extension is not None:
        extension.set_poison(True)
    yield
    if extension is not None:
        extension.set_poison(False)


@pytest.fixture(params=["stream", "gram", "gram one-pass"])
def kernel_form(request, monkeypatch):
    """Runs a test once per kernel path: flashsign's automatic choice is pinned to that form. "gram"
    reduces the Gram matrices in a kernel of their own, its row sums split into chunks of one tile
    (64 rows, 32 at D >= 128) as soon as N exceeds a tile, as at large N on a GPU; "gram one-pass"
    takes the one-pass forward and backward at any N, at every head dim on the interpreter (the same
    code at every D) and at those with a tile on a GPU. Returns the form."""
    form = request.param.split()[0]
    monkeypatch.setattr(api, "auto_method", lambda n, head_dim, with_backward: form)
    monkeypatch.setattr(gram_form, "_MIN_ROWS_PER_CHUNK", 8)
    one_pass = request.param == "gram one-pass"
    max_keys = 1 << 30 if one_pass else 0
    tiles = gram_form.TILES._replace(one_pass_max_keys=max_keys, one_pass_backward_max_keys=max_keys)
    if one_pass and common.INTERPRETED:
        every_head_dim = {d: (64, 64, 4, 3) for d in api.SUPPORTED_HEAD_DIMS}
        tiles = tiles._replace(one_pass=every_head_dim, one_pass_backward=every_head_dim)
    monkeypatch.setattr(gram_form, "TILES", tiles)
    return form


both_forms = pytest.mark.usefixtures("kernel_form")  # for tests that run the kernels


def relative_error(actual, expected):
    return ((actual.double() - expected).norm() / expected.norm()).item()


def make_inputs(shape, dtype, device, layout="contiguous", scale=1.0):
    """q, k, v of `shape` (B, H, N, D): contiguous, (B, N, H, D) storage seen through a
    transpose, or every other feature of a twice-as-wide tensor."""
    batch, heads, n, head_dim = shape

    def one():
        if layout == "contiguous":
            x = torch.randn(shape, device=device)
        elif layout == "transposed":
            x = torch.randn(batch, n, heads, head_dim, device=device).transpose(1, 2)
        elif layout == "strided":
            x = torch.randn(batch, heads, n, 2 * head_dim, device=device)[..., ::2]
        return (x * scale).to(dtype).requires_grad_()

    return one(), one(), one()


def make_mask(batch, n, device, kind):
    if kind is None:
        return None
    mask = torch.rand(batch, n, device=device) > 0.3
    mask[:, 0] = True
    if kind == "empty_cell":
        mask[-1] = False
    elif kind == "transposed":
        mask = mask.t().contiguous().t()
    return mask


def check_against_float64(shape, dtype, device, mask_kind=None, layout="contiguous", scale=1.0, attend=flashsign):
    q, k, v = make_inputs(shape, dtype, device, layout, scale)
    mask = make_mask(shape[0], shape[2], device, mask_kind)
    out = attend(q, k, v, key_padding_mask=mask)
    grad_out = torch.randn_like(out)
    out.backward(grad_out)

    q64, k64, v64 = (x.detach().double().requires_grad_() for x in (q, k, v))
    expected = spherical_attention_reference(q64, k64, v64, key_padding_mask=mask)
    expected.backward(grad_out.double())

    assert out.dtype == dtype and out.shape == shape
    tol = TOLERANCE[dtype]
    for name, actual, ref in [("out", out, expected), ("dq", q.grad, q64.grad),
                              ("dk", k.grad, k64.grad), ("dv", v.grad, v64.grad)]:
        assert torch.isfinite(actual).all(), f"{name} has non-finite (unwritten?) elements"
        err = relative_error(actual, ref)
        assert err < tol, f"{name}: relative error {err:.2e} over {tol:.0e}"
    return out, (q, k, v), mask


# ---------------------------------------------------------------------------------- CPU (small)

@both_forms
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n, head_dim", [(16, 16), (37, 16), (64, 32), (70, 64), (33, 128), (20, 256)])
@pytest.mark.parametrize("mask_kind", [None, "random"])
def test_matches_float64_reference(dtype, n, head_dim, mask_kind):
    check_against_float64((2, 2, n, head_dim), dtype, "cpu", mask_kind)


@both_forms
@pytest.mark.parametrize("layout", ["transposed", "strided"])
def test_non_contiguous_inputs(layout):
    check_against_float64((2, 3, 45, 32), torch.float16, "cpu", "transposed", layout)


@both_forms
def test_fully_masked_cell_gives_zeros_and_no_gradient():
    out, (q, k, v), _ = check_against_float64((2, 2, 29, 16), torch.float32, "cpu", "empty_cell")
    assert torch.count_nonzero(out[-1]) == 0
    for x in (q, k, v):
        assert torch.count_nonzero(x.grad[-1]) == 0


@both_forms
def test_fp16_of_large_magnitude_does_not_overflow():
    # |s| reaches ~1e4, so sum_j s_ij^2 is far beyond fp16's 65504.
    check_against_float64((1, 2, 50, 64), torch.float16, "cpu", "random", scale=12.0)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_gram_form_matches_float64_reference(dtype):
    check_against_float64((2, 2, 37, 16), dtype, "cpu", "empty_cell", "transposed",
                          attend=spherical_attention_gram)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("head_dim", [16, 64, 128])
def test_gram_row_map_programs_over_several_row_blocks(monkeypatch, dtype, head_dim):
    """Few row-map programs, each mapping consecutive blocks of rows of one head (the last program fewer):
    at 150 rows, blocks of 64 on the interpreter and 4 programs for 2 heads, two programs a head map
    blocks 0-1 and 2. Backward, where whole matrices fit (a column block of D), twice as many: the
    second half maps the key rows."""
    tiles = gram_form.TILES._replace(row_programs=4, one_pass_max_keys=0, one_pass_backward_max_keys=0)
    monkeypatch.setattr(gram_form, "TILES", tiles)
    monkeypatch.setattr(api, "auto_method", lambda n, head_dim, with_backward: "gram")
    grids, launch = [], common.launch

    def recording_launch(kernel, grid, *args, **meta):
        if kernel is gram_form._rows_kernel:
            grids.append(grid)
        launch(kernel, grid, *args, **meta)

    monkeypatch.setattr(common, "launch", recording_launch)
    check_against_float64((1, 2, 150, head_dim), dtype, "cpu", "random")
    whole_matrices = gram_form.TILES.rows_backward[head_dim][1] == head_dim
    assert grids == [(2, 2), (4 if whole_matrices else 2, 2)]  # forward, backward; for each of the two heads


@pytest.mark.parametrize("n, head_dim, one_pass", [(40, 64, True), (1024, 64, True), (1025, 64, False), (40, 32, False)])
def test_gram_forward_takes_one_pass_where_it_measured_faster(monkeypatch, n, head_dim, one_pass):
    launched = []
    monkeypatch.setattr(common, "launch", lambda kernel, *args, **meta: launched.append(kernel))
    q = torch.zeros(1, 1, n, head_dim)
    gram_form.forward(q, q, q, None, 1e-6)
    assert (launched == [gram_form._one_pass_forward_kernel]) == one_pass


@pytest.mark.parametrize("n, head_dim, one_pass", [(40, 16, True), (256, 32, True), (257, 16, False), (40, 64, False),
                                                   (40, 128, False)])
def test_gram_backward_takes_one_pass_where_it_measured_faster(monkeypatch, n, head_dim, one_pass):
    launched = []
    monkeypatch.setattr(common, "launch", lambda kernel, *args, **meta: launched.append(kernel))
    q = torch.zeros(1, 1, n, head_dim)
    r = torch.ones(1, n)
    gram_form.backward(q, q, q, None, q, r, torch.zeros(1, head_dim, 2 * head_dim), q)
    assert (launched == [gram_form._one_pass_backward_kernel]) == one_pass
    assert len(launched) == (1 if one_pass else 2)


@both_forms
def test_masked_keys_equal_dropping_them():
    q, k, v = make_inputs((1, 2, 40, 16), torch.float32, "cpu")
    mask = torch.rand(1, 40) > 0.5
    real = mask[0].nonzero().squeeze(1)
    garbage = ~mask[:, None, :, None]
    full = flashsign(q, k.detach().masked_fill(garbage, 1e4), v.detach().masked_fill(garbage, -1e4),
                     key_padding_mask=mask)
    dropped = flashsign(q[:, :, real], k[:, :, real], v[:, :, real])
    torch.testing.assert_close(full[:, :, real], dropped, rtol=1e-5, atol=1e-6)


def test_unsupported_head_dim_falls_back_with_one_warning(monkeypatch):
    monkeypatch.setattr(api, "_warned", set())
    q, k, v = make_inputs((1, 2, 10, 24), torch.float32, "cuda" if torch.cuda.is_available() else "cpu")
    with pytest.warns(UserWarning, match="head dim 24"):
        out = flashsign(q, k, v)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flashsign(q, k, v)
    torch.testing.assert_close(out, spherical_attention_reference(q, k, v))


def test_cpu_without_interpreter_takes_the_reference(monkeypatch):
    monkeypatch.setattr(api, "INTERPRETED", False)
    monkeypatch.setattr(api, "attend", None)  # any use of the kernels would fail
    q, k, v = make_inputs((1, 1, 9, 16), torch.float32, "cpu")
    torch.testing.assert_close(flashsign(q, k, v), spherical_attention_reference(q, k, v))


@pytest.mark.parametrize("bad, error, match", [
    (dict(k=torch.zeros(1, 2, 8, 16)), ValueError, "shape"),
    (dict(v=torch.zeros(1, 2, 9, 16, dtype=torch.float16)), TypeError, "dtype"),
    (dict(key_padding_mask=torch.ones(1, 9)), TypeError, "bool"),
    (dict(key_padding_mask=torch.ones(2, 9, dtype=torch.bool)), ValueError, r"\(B, N\)"),
    (dict(eps=0.0), ValueError, "eps"),
])
def test_bad_input_is_named(bad, error, match):
    args = dict(q=torch.zeros(1, 2, 9, 16), k=torch.zeros(1, 2, 9, 16), v=torch.zeros(1, 2, 9, 16))
    with pytest.raises(error, match=match):
        flashsign(**{**args, **bad})


def test_reference_gradcheck():
    q, k, v = (torch.randn(1, 2, 6, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = torch.tensor([[True, False, True, True, False, True]])
    assert torch.autograd.gradcheck(lambda *x: spherical_attention_reference(*x, key_padding_mask=mask),
                                    (q, k, v))


def test_reference_on_hand_computed_case():
    # One query, two keys with scores 3 and -4 (D = 1): weights (3, -4) / 5.
    q = torch.tensor([[[[1.0]]]]).expand(1, 1, 2, 1)
    k = torch.tensor([[[[3.0], [-4.0]]]])
    v = torch.tensor([[[[10.0], [1.0]]]])
    out = spherical_attention_reference(q, k, v, eps=1e-12)
    torch.testing.assert_close(out, torch.full((1, 1, 2, 1), (30.0 - 4.0) / 5.0))


# ---------------------------------------------------------------------------------- GPU (full)

@both_forms
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("mask_kind", [None, "empty_cell"])
def test_gpu_matches_float64_reference(dtype, mask_kind):
    check_against_float64((2, 4, 1531, 64), dtype, "cuda", mask_kind)


@both_forms
@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(2, 4, 1000, 16), (2, 4, 1000, 32), (2, 4, 2077, 128), (1, 4, 1500, 256),
                                   (1, 4, 4096, 64), (16, 4, 2048, 16)])
def test_gpu_head_dims_and_sizes(shape):
    check_against_float64(shape, torch.bfloat16, "cuda", "random")


@both_forms
@pytest.mark.gpu
@pytest.mark.parametrize("layout", ["transposed", "strided"])
def test_gpu_non_contiguous_inputs(layout):
    check_against_float64((2, 4, 1000, 64), torch.float16, "cuda", "transposed", layout)


@both_forms
@pytest.mark.gpu
def test_gpu_memory_stays_linear_in_n():
    n = 16384
    q, k, v = make_inputs((1, 2, n, 64), torch.bfloat16, "cuda")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    flashsign(q, k, v).backward(torch.randn_like(q))
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - before
    assert extra < n * n * 2 / 8, f"{extra} bytes beyond the inputs: an N x N buffer?"

