"""FlashSign fuzzed against the float64 reference: random shapes, dtypes, masks and strides.

A seeded generator draws the cases; each case draws fresh inputs from its own seed, runs the
kernel, and compares the output (and, for every 4th case, the gradients of q, k and v) with
`spherical_attention_reference` on float64 copies, by ||out - ref|| / ||ref|| per dtype (the
bounds of test_flashsign, from METHOD.md). Kernel outputs are poisoned with NaN first, so an
unwritten element fails.

CPU (Triton interpreter): FLASHSIGN_FUZZ_CASES cases (default 200) at tiny sizes.
GPU: FLASHSIGN_FUZZ_GPU_CASES cases (default 2000) at larger sizes, every head dim, with random
tile configs instead of autotuning (see `random_tile_configs`). The first run there is dominated
by compiling the kernels' many specialisations (dtype, head dim, mask, stride alignments).
"""
import os
import random
from dataclasses import dataclass

import pytest
import torch

import kernels.flashsign_gram as gram_form
import kernels.flashsign_stream as stream
from kernels import flashsign, spherical_attention_reference
from test_flashsign import TOLERANCE, relative_error
from test_flashsign import poisoned_outputs  # noqa: F401  (autouse: kernel outputs start as NaN)

DTYPE_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
LAYOUTS = ("contiguous", "transposed", "strided")
MASKS = (None, "random", "strided", "empty_cells")


@dataclass(frozen=True)
class Case:
    batch: int
    heads: int
    n: int
    head_dim: int
    dtype: torch.dtype
    layout: str
    mask: str | None
    scale: float
    check_grads: bool
    method: str
    seed: int

    def __str__(self):
        return (f"{self.seed}-{DTYPE_NAMES[self.dtype]}-b{self.batch}h{self.heads}n{self.n}d{self.head_dim}"
                f"-{self.layout}-{self.mask}-{self.method}{'-grad' if self.check_grads else ''}")


def draw_cases(count, seed, max_n, head_dims, head_dim_weights):
    rng = random.Random(seed)
    return [Case(batch=rng.randint(1, 3), heads=rng.randint(1, 3), n=rng.randint(1, max_n),
                 head_dim=rng.choices(head_dims, head_dim_weights)[0],
                 dtype=rng.choice(list(DTYPE_NAMES)), layout=rng.choice(LAYOUTS), mask=rng.choice(MASKS),
                 scale=10 ** rng.uniform(-0.5, 0.5), check_grads=i % 4 == 0,
                 method=rng.choice(("stream", "gram")), seed=seed + i)
            for i in range(count)]


def make_tensor(case, gen, device):
    """A (B, H, N, D) tensor of the case's layout, made in its dtype and then viewed (casting or
    scaling a strided view would copy it to contiguous): contiguous, (B, N, H, D) storage seen
    through a transpose, or every other feature of a twice-as-wide tensor. Views keep their .grad."""
    def leaf(*shape):
        x = torch.randn(shape, generator=gen, device=device) * case.scale
        return x.to(case.dtype).requires_grad_(case.check_grads)

    b, h, n, d = case.batch, case.heads, case.n, case.head_dim
    if case.layout == "contiguous":
        return leaf(b, h, n, d)
    view = leaf(b, n, h, d).transpose(1, 2) if case.layout == "transposed" else leaf(b, h, n, 2 * d)[..., ::2]
    if case.check_grads:
        view.retain_grad()
    return view


def make_mask(case, gen, device):
    """None; random keys; random keys as every other column of a wider mask; or random keys with
    some cells (batch rows) fully masked."""
    if case.mask is None:
        return None
    width = 2 * case.n if case.mask == "strided" else case.n
    mask = torch.rand(case.batch, width, generator=gen, device=device) > 0.3
    if case.mask == "strided":
        mask = mask[:, ::2]
    if case.mask == "empty_cells":
        mask[torch.rand(case.batch, generator=gen, device=device) < 0.5] = False
    return mask


def assert_close_to(name, actual, expected, tol):
    assert torch.isfinite(actual).all(), f"{name} has non-finite (unwritten?) elements"
    if expected.norm() == 0:  # every key masked: the exact answer is zero
        assert torch.count_nonzero(actual) == 0, f"{name} should be all zeros"
        return
    err = relative_error(actual, expected)
    assert err < tol, f"{name}: relative error {err:.2e} over {tol:.0e}"


def check_case(case, device):
    gen = torch.Generator(device).manual_seed(case.seed)
    q, k, v = (make_tensor(case, gen, device) for _ in range(3))
    mask = make_mask(case, gen, device)
    out = flashsign(q, k, v, key_padding_mask=mask, method=case.method)
    assert out.shape == q.shape and out.dtype == case.dtype

    q64, k64, v64 = (x.detach().double().requires_grad_(case.check_grads) for x in (q, k, v))
    expected = spherical_attention_reference(q64, k64, v64, key_padding_mask=mask)
    tol = TOLERANCE[case.dtype]
    assert_close_to("out", out, expected, tol)
    if case.check_grads:
        grad_out = torch.randn(out.shape, generator=gen, device=device).to(case.dtype)
        out.backward(grad_out)
        expected.backward(grad_out.double())
        for name, x, x64 in [("dq", q, q64), ("dk", k, k64), ("dv", v, v64)]:
            if name == "dv" or most_real_keys(case, mask) != 1:
                assert_close_to(name, x.grad, x64.grad, tol)
            else:  # one real key: O barely depends on q, k; dq, dk ~ eps are rounding noise of O(1) terms
                assert torch.isfinite(x.grad).all(), f"{name} has non-finite (unwritten?) elements"


def most_real_keys(case, mask):
    return case.n if mask is None else int(mask.sum(1).max())


CPU_CASES = draw_cases(int(os.environ.get("FLASHSIGN_FUZZ_CASES", "200")), seed=1000, max_n=80,
                       head_dims=(16, 32, 64, 128), head_dim_weights=(6, 4, 3, 1))


@pytest.mark.parametrize("case", CPU_CASES, ids=str)
def test_fuzz_cpu(case, monkeypatch):
    monkeypatch.setattr(gram_form, "_MIN_ROWS_PER_CHUNK", 16)  # tiny N still splits the Gram sums
    check_case(case, "cpu")


GPU_CASES = draw_cases(int(os.environ.get("FLASHSIGN_FUZZ_GPU_CASES", "2000")), seed=50_000, max_n=2100,
                       head_dims=(16, 32, 64, 128, 256), head_dim_weights=(3, 3, 4, 3, 1))


TILE_RNG = random.Random(7)
TILE_PICKS = {}


@pytest.fixture
def random_tile_configs(monkeypatch):
    """Each streamed kernel runs one tile drawn at random from those that fit, once per (kernel,
    head dim, dtype), instead of the preferred one: across the cases every tile shape runs, and a
    case compiles only new specialisations."""
    def pick(kernel, head_dim, dtype):
        key = (kernel, head_dim, dtype)
        if key not in TILE_PICKS:
            itemsize = torch.finfo(dtype).bits // 8
            tiles = [t for t in sum(stream._TILES[kernel], []) + stream._FALLBACK_TILES
                     if stream._fits(kernel, t, head_dim, itemsize)]
            TILE_PICKS[key] = TILE_RNG.choice(tiles)
        return TILE_PICKS[key]

    monkeypatch.setattr(stream, "_tile", pick)


@pytest.mark.gpu
@pytest.mark.parametrize("case", GPU_CASES, ids=str)
def test_fuzz_gpu(case, random_tile_configs):
    check_case(case, "cuda")
