"""FlashSign's streamed form: spherical attention in O(N^2 D) with Triton, forward and backward.

The function (kernels/flashsign_api.py has the public `flashsign`), per batch and head:

    s_ij = q_i . k_j / sqrt(D),   r_i = sqrt(sum_j s_ij^2 + eps),   O_i = sum_j (s_ij / r_i) v_j

Forward: one program per (query block, batch*head) streams K/V tiles and keeps two accumulators,
`acc += s V` and `ss += rowsum(s^2)`. There is no exp and no running maximum, so nothing is ever
rescaled; O = acc / r at the end, and r (fp32, one number per query) is stored for the backward,
as FlashAttention stores its log-sum-exp.

Backward, with P = s / r, dP = dO V^T and Delta_i = rowsum(dO_i * O_i) = sum_j P_ij dP_ij:

    dS_ij = (dP_ij - Delta_i P_ij) / r_i,   dV = P^T dO,   dQ = dS K / sqrt(D),   dK = dS^T Q / sqrt(D)

It runs as three kernels: a preprocess pass for Delta, a dK/dV kernel that holds a key block and
streams query blocks, and a dQ kernel that holds a query block and streams key blocks (so no
atomics). Memory is O(N): nothing of size N x N is stored, forward or backward.

Masking: `key_padding_mask` (B, N) bool, True = real key. A masked key has s_ij = 0, so it adds
nothing to O or r and receives no gradient; a row without any real key gives O = 0 (r = sqrt(eps)).
Sequence tails need no padding: out-of-range rows load as zeros, which give s = 0 as well.

Caveats:
- Scores and sums of squares are fp32, but s is rounded to the input dtype for the s V product
  (as FlashAttention rounds P): |s| above 65504 overflows in fp16 (the Gram form does not).
- fp32 inputs use full fp32 dot products ("ieee"), not tf32: exact, and much slower than fp16/bf16.
"""
import math

import torch
import triton
import triton.language as tl

from kernels import triton_common as common
from kernels.triton_common import INTERPRETED, dot


# ----------------------------------------------------------------------------------------------
# Kernels. Every tensor is addressed by (batch, head, row, feature) strides, so non-contiguous
# inputs need no copy. R and DELTA are contiguous (B*H, N) fp32; KEEP is the (B, N) key mask as
# int8 (1 = real key), read only when HAS_MASK.
# ----------------------------------------------------------------------------------------------


@triton.jit
def _fwd_kernel(
    Q, K, V, KEEP, O, R,
    stride_qb, stride_qh, stride_qn, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_ob, stride_oh, stride_on, stride_od,
    stride_mb, stride_mn,
    H, N, scale, eps,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    HAS_MASK: tl.constexpr, PRECISION: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1).to(tl.int64)  # 64-bit base offsets: inputs may span > 2^31 elements
    b = pid_bh // H
    h = pid_bh % H
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    feats = tl.arange(0, HEAD_DIM)
    row_ok = rows < N

    q = tl.load(Q + b * stride_qb + h * stride_qh + rows[:, None] * stride_qn + feats[None, :] * stride_qd,
                mask=row_ok[:, None], other=0.0)
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_vb + h * stride_vh

    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    sum_sq = tl.zeros([BLOCK_M], dtype=tl.float32)
    for start_n in range(0, N, BLOCK_N):
        cols = start_n + tl.arange(0, BLOCK_N)
        col_ok = cols < N
        k_t = tl.load(k_base + cols[None, :] * stride_kn + feats[:, None] * stride_kd,
                      mask=col_ok[None, :], other=0.0)
        v = tl.load(v_base + cols[:, None] * stride_vn + feats[None, :] * stride_vd,
                    mask=col_ok[:, None], other=0.0)
        s = dot(q, k_t, None, PRECISION) * scale
        if HAS_MASK:
            keep = tl.load(KEEP + b * stride_mb + cols * stride_mn, mask=col_ok, other=0)
            s = tl.where(keep[None, :] != 0, s, 0.0)
        sum_sq += tl.sum(s * s, axis=1)
        acc = dot(s.to(v.dtype), v, acc, PRECISION)

    r = tl.sqrt(sum_sq + eps)
    out = acc / r[:, None]
    tl.store(O + b * stride_ob + h * stride_oh + rows[:, None] * stride_on + feats[None, :] * stride_od,
             out.to(O.dtype.element_ty), mask=row_ok[:, None])
    tl.store(R + pid_bh * N + rows, r, mask=row_ok)


@triton.jit
def _bwd_dkdv_kernel(
    Q, K, V, DO, KEEP, R, DELTA, DK, DV,
    stride_qb, stride_qh, stride_qn, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_gb, stride_gh, stride_gn, stride_gd,
    stride_mb, stride_mn,
    H, N, scale,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    HAS_MASK: tl.constexpr, PRECISION: tl.constexpr,
):
    """One key block, all query blocks: dV = P^T dO and dK = dS^T Q * scale, in transposed form.

    DK and DV are contiguous (B, H, N, HEAD_DIM). A masked key's rows of dK and dV depend on
    that key alone, so they are zeroed once at the end instead of masking every tile.
    """
    pid_n = tl.program_id(0)
    pid_bh = tl.program_id(1).to(tl.int64)
    b = pid_bh // H
    h = pid_bh % H
    cols = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    feats = tl.arange(0, HEAD_DIM)
    col_ok = cols < N

    k = tl.load(K + b * stride_kb + h * stride_kh + cols[:, None] * stride_kn + feats[None, :] * stride_kd,
                mask=col_ok[:, None], other=0.0)
    v = tl.load(V + b * stride_vb + h * stride_vh + cols[:, None] * stride_vn + feats[None, :] * stride_vd,
                mask=col_ok[:, None], other=0.0)
    q_base = Q + b * stride_qb + h * stride_qh
    do_base = DO + b * stride_gb + h * stride_gh

    dk = tl.zeros([BLOCK_N, HEAD_DIM], dtype=tl.float32)
    dv = tl.zeros([BLOCK_N, HEAD_DIM], dtype=tl.float32)
    for start_m in range(0, N, BLOCK_M):
        rows = start_m + tl.arange(0, BLOCK_M)
        row_ok = rows < N
        q_t = tl.load(q_base + rows[None, :] * stride_qn + feats[:, None] * stride_qd,
                      mask=row_ok[None, :], other=0.0)
        do = tl.load(do_base + rows[:, None] * stride_gn + feats[None, :] * stride_gd,
                     mask=row_ok[:, None], other=0.0)
        inv_r = 1.0 / tl.load(R + pid_bh * N + rows, mask=row_ok, other=1.0)
        delta = tl.load(DELTA + pid_bh * N + rows, mask=row_ok, other=0.0)

        p_t = dot(k, q_t, None, PRECISION) * (scale * inv_r[None, :])
        dv = dot(p_t.to(do.dtype), do, dv, PRECISION)
        dp_t = dot(v, tl.trans(do), None, PRECISION)
        ds_t = (dp_t - delta[None, :] * p_t) * inv_r[None, :]
        dk = dot(ds_t.to(q_t.dtype), tl.trans(q_t), dk, PRECISION)

    if HAS_MASK:
        keep = tl.load(KEEP + b * stride_mb + cols * stride_mn, mask=col_ok, other=0) != 0
        dk = tl.where(keep[:, None], dk, 0.0)
        dv = tl.where(keep[:, None], dv, 0.0)
    out = cols[:, None] * HEAD_DIM + feats[None, :]
    head = pid_bh * N * HEAD_DIM
    tl.store(DK + head + out, (dk * scale).to(DK.dtype.element_ty), mask=col_ok[:, None])
    tl.store(DV + head + out, dv.to(DV.dtype.element_ty), mask=col_ok[:, None])


@triton.jit
def _bwd_dq_kernel(
    Q, K, V, DO, KEEP, R, DELTA, DQ,
    stride_qb, stride_qh, stride_qn, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_gb, stride_gh, stride_gn, stride_gd,
    stride_mb, stride_mn,
    H, N, scale,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    HAS_MASK: tl.constexpr, PRECISION: tl.constexpr,
):
    """One query block, all key blocks: dQ = dS K * scale. DQ is contiguous (B, H, N, HEAD_DIM)."""
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1).to(tl.int64)
    b = pid_bh // H
    h = pid_bh % H
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    feats = tl.arange(0, HEAD_DIM)
    row_ok = rows < N

    q = tl.load(Q + b * stride_qb + h * stride_qh + rows[:, None] * stride_qn + feats[None, :] * stride_qd,
                mask=row_ok[:, None], other=0.0)
    do = tl.load(DO + b * stride_gb + h * stride_gh + rows[:, None] * stride_gn + feats[None, :] * stride_gd,
                 mask=row_ok[:, None], other=0.0)
    inv_r = 1.0 / tl.load(R + pid_bh * N + rows, mask=row_ok, other=1.0)
    delta = tl.load(DELTA + pid_bh * N + rows, mask=row_ok, other=0.0)
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_vb + h * stride_vh

    dq = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    for start_n in range(0, N, BLOCK_N):
        cols = start_n + tl.arange(0, BLOCK_N)
        col_ok = cols < N
        k_t = tl.load(k_base + cols[None, :] * stride_kn + feats[:, None] * stride_kd,
                      mask=col_ok[None, :], other=0.0)
        v_t = tl.load(v_base + cols[None, :] * stride_vn + feats[:, None] * stride_vd,
                      mask=col_ok[None, :], other=0.0)
        p = dot(q, k_t, None, PRECISION) * (scale * inv_r[:, None])
        dp = dot(do, v_t, None, PRECISION)
        ds = (dp - delta[:, None] * p) * inv_r[:, None]
        if HAS_MASK:
            keep = tl.load(KEEP + b * stride_mb + cols * stride_mn, mask=col_ok, other=0)
            ds = tl.where(keep[None, :] != 0, ds, 0.0)
        dq = dot(ds.to(k_t.dtype), tl.trans(k_t), dq, PRECISION)

    out = rows[:, None] * HEAD_DIM + feats[None, :]
    tl.store(DQ + pid_bh * N * HEAD_DIM + out, (dq * scale).to(DQ.dtype.element_ty), mask=row_ok[:, None])


# ----------------------------------------------------------------------------------------------
# Tile configurations: (BLOCK_M, BLOCK_N, num_warps, num_stages), best first, as autotuning chose
# them on an H100 at the benchmark shapes (results/kernels/TUNING.md). A fixed choice keeps launches
# cheap (no autotuner on the call path) and compiles one variant per case. The first tile that
# fits in shared memory and registers runs. Under the interpreter one block covers up to 64 rows:
# fewer programs run faster there.
# ----------------------------------------------------------------------------------------------

_SMEM_BYTES = 200 * 1024  # a margin under Hopper's 227 KB per block
_FALLBACK_TILES = [(64, 64, 4, 2), (64, 32, 4, 2), (32, 32, 4, 2), (16, 32, 4, 2)]
_TILES = {  # kernel: (tiles for head dim <= 32, tiles for head dim 64, tiles for 128 and up)
    "fwd": ([(128, 64, 4, 3)], [(128, 64, 8, 3)], [(128, 64, 8, 3)]),
    "dkdv": ([(32, 128, 4, 3)], [(32, 128, 4, 3)], [(32, 64, 4, 3)]),
    "dq": ([(64, 64, 4, 3)], [(128, 64, 8, 3)], [(128, 64, 8, 3)]),
}


@triton.jit
def _delta_kernel(
    O, DO, DELTA,
    stride_ob, stride_oh, stride_on, stride_od,
    stride_gb, stride_gh, stride_gn, stride_gd,
    H, N,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr,
):
    """Delta_i = rowsum(dO_i * O_i) in fp32, into a contiguous (B*H, N) buffer."""
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1).to(tl.int64)
    b = pid_bh // H
    h = pid_bh % H
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    feats = tl.arange(0, HEAD_DIM)
    row_ok = rows < N
    o = tl.load(O + b * stride_ob + h * stride_oh + rows[:, None] * stride_on + feats[None, :] * stride_od,
                mask=row_ok[:, None], other=0.0)
    do = tl.load(DO + b * stride_gb + h * stride_gh + rows[:, None] * stride_gn + feats[None, :] * stride_gd,
                 mask=row_ok[:, None], other=0.0)
    delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), axis=1)
    tl.store(DELTA + pid_bh * N + rows, delta, mask=row_ok)


def _fits(kernel, tile, head_dim, itemsize):
    """Shared memory: held tiles once, two streamed tiles per pipeline stage. Registers: at most
    64 x 256 fp32 accumulator elements per program (larger ones spill)."""
    block_m, block_n, _, stages = tile
    held, streamed, accumulator = {"fwd": (block_m, block_n, block_m),
                                   "dq": (2 * block_m, block_n, block_m),
                                   "dkdv": (2 * block_n, block_m, 2 * block_n)}[kernel]
    smem = (held + 2 * stages * streamed) * head_dim * itemsize
    return smem <= _SMEM_BYTES and accumulator * head_dim <= 64 * 256


def _tile(kernel, head_dim, dtype):
    preferred = _TILES[kernel][0 if head_dim <= 32 else 1 if head_dim == 64 else 2]
    itemsize = torch.finfo(dtype).bits // 8
    return next(t for t in preferred + _FALLBACK_TILES if _fits(kernel, t, head_dim, itemsize))


def _launch(kernel, name, tensors, scalars, n, batch_heads, meta):
    """One program per (row block, batch*head); the kernel streams the other sequence axis."""
    if INTERPRETED:
        block = min(64, max(16, triton.next_power_of_2(n)))
        block_m = block_n = block
        options = {}
    else:
        block_m, block_n, warps, stages = _tile(name, meta["HEAD_DIM"], tensors[0].dtype)
        options = dict(num_warps=warps, num_stages=stages)
    rows = block_n if name == "dkdv" else block_m
    common.launch(kernel, (triton.cdiv(n, rows), batch_heads), tensors, scalars,
                  BLOCK_M=block_m, BLOCK_N=block_n, **meta, **options)


# ----------------------------------------------------------------------------------------------
# Launchers
# ----------------------------------------------------------------------------------------------


def _precision(dtype):
    return "ieee" if dtype == torch.float32 else "tf32"


def _row_deltas(o, do):
    """Delta (B*H, N) fp32 for the backward."""
    batch, heads, n, head_dim = o.shape
    delta = common.empty((batch * heads, n), torch.float32, o.device)
    block = 64 if head_dim <= 128 else 32
    common.launch(_delta_kernel, (triton.cdiv(n, block), batch * heads), (o, do, delta),
                  (*o.stride(), *do.stride(), heads, n), HEAD_DIM=head_dim, BLOCK_M=block)
    return delta


def forward(q, k, v, key_padding_mask, eps):
    """(O, r) for checked, supported inputs."""
    batch, heads, n, head_dim = q.shape
    o = common.empty(q.shape, q.dtype, q.device)
    r = common.empty((batch * heads, n), torch.float32, q.device)
    keep, stride_mb, stride_mn = common.mask_args(key_padding_mask, q)
    scalars = (*q.stride(), *k.stride(), *v.stride(), *o.stride(), stride_mb, stride_mn,
               heads, n, 1.0 / math.sqrt(head_dim), eps)
    meta = dict(HEAD_DIM=head_dim, HAS_MASK=key_padding_mask is not None, PRECISION=_precision(q.dtype))
    _launch(_fwd_kernel, "fwd", (q, k, v, keep, o, r), scalars, n, batch * heads, meta)
    return o, r


def backward(q, k, v, key_padding_mask, o, r, do):
    """(dQ, dK, dV) from the forward's inputs and outputs and a contiguous dO."""
    batch, heads, n, head_dim = q.shape
    delta = _row_deltas(o, do)
    dq, dk, dv = (common.empty(q.shape, q.dtype, q.device) for _ in range(3))
    keep, stride_mb, stride_mn = common.mask_args(key_padding_mask, q)
    shared = (*q.stride(), *k.stride(), *v.stride(), *do.stride(), stride_mb, stride_mn,
              heads, n, 1.0 / math.sqrt(head_dim))
    meta = dict(HEAD_DIM=head_dim, HAS_MASK=key_padding_mask is not None, PRECISION=_precision(q.dtype))
    _launch(_bwd_dkdv_kernel, "dkdv", (q, k, v, do, keep, r, delta, dk, dv), shared, n, batch * heads, meta)
    _launch(_bwd_dq_kernel, "dq", (q, k, v, do, keep, r, delta, dq), shared, n, batch * heads, meta)
    return dq, dk, dv
