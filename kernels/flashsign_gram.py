"""FlashSign in Gram form: spherical attention in O(N D^2) with Triton, forward and backward.

Without a SoftMax the weights are linear in the scores once r is known, so per batch and head,
with G_kk = K^T K and G_kv = K^T V (D x D, masked keys left out, fp32):

    r_i^2 = q_i G_kk q_i^T / D + eps,    O_i = q_i G_kv / (sqrt(D) r_i)

This is the same function as the streamed kernels (kernels/flashsign_stream.py), not an
approximation, and no N x N array exists. Backward, with a_i = 1 / (sqrt(D) r_i) and
c_i = -Delta_i / (2 D r_i^2), Delta_i = rowsum(dO_i * O_i):

    dG_kv = Q^T diag(a) dO,   dG_kk = Q^T diag(c) Q            (sums over queries)
    dQ = diag(a) dO G_kv^T + 2 diag(c) Q G_kk,   dK = 2 K dG_kk + V dG_kv^T,   dV = K dG_kv

Kernels: `_gram_kernel` reduces K^T [K | V] (forward) or Q^T [diag(c) Q | diag(a) dO] (backward)
over chunks of rows, one program per (column block, row chunk, batch*head), reading each row once
for both halves; backward it computes Delta on the way and stores it. Chunk partials are summed
afterwards (deterministic, no atomics). `_rows_kernel` then maps blocks of rows through the D x D
matrices: O and r forward; dQ, dK and dV backward. Up to 1024 keys at D=64 the forward
is instead one `_one_pass_forward_kernel`: each block of rows reduces K^T [K | V] itself, in
registers, which repeats a short reduction but saves a launch and a round trip through memory. Up
to 256 keys at D=16 and 32 the backward is likewise one `_one_pass_backward_kernel`.

Precision: products of two input-dtype tiles use the input dtype's tensor-core dot (exact products,
fp32 sums). A product of a bf16 tile with an fp32 matrix runs, in the split kernels up to D=64, as
three bf16 products, on the matrix split into three bf16 parts (about 24 bits count); elsewhere, and
with an fp16 tile, as two TF32 products, on the matrix's TF32 head and its remainder (about 21 bits).
fp32 inputs use "ieee" dots throughout.

Caveats:
- r^2 is a quadratic form whose rounding error scales with |q|^2 |G_kk|, not with r^2: accuracy drops
  for a query almost orthogonal to every key (r far below |q| |K|). The streamed kernels do not have this.
- Each call launches one or two kernels forward and one or two backward (plus one summing chunk partials
  when the rows are split), shorter ones than the streamed form's: at few keys the streamed form is
  faster, and kernels.flashsign takes it there (GRAM_FROM_KEYS in kernels/flashsign_api.py).
"""
import math
from typing import NamedTuple

import torch
import triton
import triton.language as tl

from kernels import triton_common as common
from kernels.triton_common import INTERPRETED, dot

# The shortest chunk of rows a reduction program sums: shorter chunks cost more in partial sums
# than they gain in parallelism (results/kernels/TUNING.md).
_MIN_ROWS_PER_CHUNK = 256


@triton.jit
def _gram_kernel(
    A, Y, O, KEEP, R, DELTA, PARTIAL,
    stride_ab, stride_ah, stride_an, stride_ad,
    stride_yb, stride_yh, stride_yn, stride_yd,
    stride_ob, stride_oh, stride_on, stride_od,
    stride_mb, stride_mn,
    H, N, rows_per_chunk, scale,
    HEAD_DIM: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr,
    HAS_MASK: tl.constexpr, WEIGHTED: tl.constexpr,
    RAW_PRECISION: tl.constexpr, MIXED_PRECISION: tl.constexpr,
):
    """PARTIAL[chunk, bh, :, cols] = sum over the chunk's rows n of a_n^T a_n[cols], and
    PARTIAL[chunk, bh, :, D + cols] = the same sum of a_n^T y_n[cols]: both halves of the (D, 2D)
    result from one read of each row (a column block of BLOCK_C = D reuses the row of A it holds).
    Forward (unweighted) the rows are keys (A = K, Y = V), masked by KEEP. Backward (weighted) they
    are queries (A = Q, Y = dO): a_n[cols] is weighted by c_n and y_n by a_n, computed from R and
    Delta_n = rowsum(dO_n * O_n), which the first column block writes to DELTA on the way."""
    pid_c = tl.program_id(0)
    pid_chunk = tl.program_id(1)
    pid_bh = tl.program_id(2).to(tl.int64)
    b = pid_bh // H
    h = pid_bh % H
    feats = tl.arange(0, HEAD_DIM)
    cols = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    a_base = A + b * stride_ab + h * stride_ah
    y_base = Y + b * stride_yb + h * stride_yh
    o_base = O + b * stride_ob + h * stride_oh

    acc_x = tl.zeros([HEAD_DIM, BLOCK_C], dtype=tl.float32)
    acc_y = tl.zeros([HEAD_DIM, BLOCK_C], dtype=tl.float32)
    chunk_start = pid_chunk * rows_per_chunk
    chunk_end = tl.minimum(chunk_start + rows_per_chunk, N)
    for start_n in range(chunk_start, chunk_end, BLOCK_N):
        rows = start_n + tl.arange(0, BLOCK_N)
        row_ok = rows < chunk_end
        if HAS_MASK:
            row_ok = row_ok & (tl.load(KEEP + b * stride_mb + rows * stride_mn, mask=row_ok, other=0) != 0)
        a = tl.load(a_base + rows[:, None] * stride_an + feats[None, :] * stride_ad, mask=row_ok[:, None], other=0.0)
        if BLOCK_C == HEAD_DIM:
            x = a
        else:
            x = tl.load(a_base + rows[:, None] * stride_an + cols[None, :] * stride_ad,
                        mask=row_ok[:, None], other=0.0)
        if WEIGHTED:
            do = tl.load(y_base + rows[:, None] * stride_yn + feats[None, :] * stride_yd,
                         mask=row_ok[:, None], other=0.0).to(tl.float32)
            o = tl.load(o_base + rows[:, None] * stride_on + feats[None, :] * stride_od,
                        mask=row_ok[:, None], other=0.0)
            delta = tl.sum(o.to(tl.float32) * do, 1)
            if pid_c == 0:
                tl.store(DELTA + pid_bh * N + rows, delta, mask=row_ok)
            if BLOCK_C == HEAD_DIM:
                y = do
            else:
                y = tl.load(y_base + rows[:, None] * stride_yn + cols[None, :] * stride_yd,
                            mask=row_ok[:, None], other=0.0).to(tl.float32)
            r = tl.load(R + pid_bh * N + rows, mask=row_ok, other=1.0)
            a_t = tl.trans(a.to(tl.float32))
            acc_x = _dot_fp32(a_t, x.to(tl.float32) * (-delta * (scale * scale) / (2.0 * r * r))[:, None], acc_x,
                              MIXED_PRECISION)
            acc_y = _dot_fp32(a_t, y * (scale / r)[:, None], acc_y, MIXED_PRECISION)
        else:
            y = tl.load(y_base + rows[:, None] * stride_yn + cols[None, :] * stride_yd,
                        mask=row_ok[:, None], other=0.0)
            a_t = tl.trans(a)
            acc_x = dot(a_t, x, acc_x, RAW_PRECISION)
            acc_y = dot(a_t, y, acc_y, RAW_PRECISION)

    out = (PARTIAL + (pid_chunk * tl.num_programs(2) + pid_bh) * (HEAD_DIM * 2 * HEAD_DIM)
           + feats[:, None] * (2 * HEAD_DIM) + cols[None, :])
    tl.store(out, acc_x)
    tl.store(out + HEAD_DIM, acc_y)


@triton.jit
def _dot_fp32(a, b, acc, PRECISION: tl.constexpr):
    """a @ b + acc for an `a` that holds input-dtype values (in any float type) and an fp32 `b`.

    "bf16x3" (bf16 inputs): b as the sum of three bf16 parts, each product exact and summed in fp32,
    so about 24 of b's bits count; "split" (fp16 inputs): two TF32 products, on b's TF32 head and on
    the remainder (a is exact in TF32), about 21 bits; "ieee" (fp32 inputs): one full fp32 product."""
    if PRECISION == "ieee":
        return tl.dot(a.to(tl.float32), b, acc, input_precision="ieee")
    elif PRECISION == "bf16x3":
        a = a.to(tl.bfloat16)
        high = b.to(tl.bfloat16)
        rest = b - high.to(tl.float32)
        middle = rest.to(tl.bfloat16)
        acc = dot(a, (rest - middle.to(tl.float32)).to(tl.bfloat16), acc, "tf32")  # smallest part first
        acc = dot(a, middle, acc, "tf32")
        return dot(a, high, acc, "tf32")
    else:
        a = a.to(tl.float32)
        head = (b.to(tl.int32, bitcast=True) & -8192).to(tl.float32, bitcast=True)  # clears 13 low bits
        acc = tl.dot(a, head, acc, input_precision="tf32")
        return tl.dot(a, b - head, acc, input_precision="tf32")


@triton.jit
def _times_gram(x, G, g_rows, g_cols, TRANSPOSED: tl.constexpr, PRECISION: tl.constexpr,
                HEAD_DIM: tl.constexpr):
    """x (BLOCK_M, D) @ G[g_rows, g_cols], or @ G[g_rows, g_cols]^T, for a (D, 2D) fp32 G; fp32."""
    if TRANSPOSED:
        block = tl.load(G + g_rows[None, :] * (2 * HEAD_DIM) + g_cols[:, None])
    else:
        block = tl.load(G + g_rows[:, None] * (2 * HEAD_DIM) + g_cols[None, :])
    return _dot_fp32(x, block, None, PRECISION)


@triton.jit
def _rows_kernel(
    Q, K, V, DO, KEEP, GRAM, DGRAM, R, DELTA, O, DQ, DK, DV,
    stride_qb, stride_qh, stride_qn, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_gb, stride_gh, stride_gn, stride_gd,
    stride_ob, stride_oh, stride_on, stride_od,
    stride_mb, stride_mn,
    H, N, blocks_per_program, scale, eps,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_C: tl.constexpr,
    BACKWARD: tl.constexpr, HAS_MASK: tl.constexpr, PRECISION: tl.constexpr,
):
    """Rows through the (D, 2D) fp32 matrices GRAM = [G_kk | G_kv] and, backward, DGRAM =
    [dG_kk | dG_kv]. Forward writes O and R; backward writes DQ, DK and DV (contiguous). A program maps
    `blocks_per_program` consecutive blocks of BLOCK_M rows of one head.

    With BLOCK_C = D a program loads the matrices it needs once, before its first block: forward
    G_kk and G_kv; backward the launch has twice the programs, the first half mapping query rows to dQ
    (G_kk, G_kv), the second key rows to dK and dV (dG_kk, dG_kv). With BLOCK_C < D (a whole D x D
    fp32 matrix would not fit in registers) every block re-reads BLOCK_C columns at a time."""
    pid_bh = tl.program_id(1).to(tl.int64)
    b = pid_bh // H
    h = pid_bh % H
    feats = tl.arange(0, HEAD_DIM)
    gram = GRAM + pid_bh * (HEAD_DIM * 2 * HEAD_DIM)
    dgram = DGRAM + pid_bh * (HEAD_DIM * 2 * HEAD_DIM)
    kv = HEAD_DIM + feats  # G_kv's rows, as columns of the (D, 2D) layout
    q_head = Q + b * stride_qb + h * stride_qh
    do_head = DO + b * stride_gb + h * stride_gh
    k_head = K + b * stride_kb + h * stride_kh
    v_head = V + b * stride_vb + h * stride_vh
    blocks = tl.cdiv(N, BLOCK_M)
    program = tl.program_id(0)
    key_rows = False
    if BACKWARD and BLOCK_C == HEAD_DIM:
        row_programs = tl.cdiv(blocks, blocks_per_program)
        key_rows = program >= row_programs
        if key_rows:
            program -= row_programs
    first_block = program * blocks_per_program
    last_block = tl.minimum(first_block + blocks_per_program, blocks)
    if BLOCK_C == HEAD_DIM and not BACKWARD:
        g_kk = tl.load(gram + feats[:, None] * (2 * HEAD_DIM) + feats[None, :])
        g_kv = tl.load(gram + feats[:, None] * (2 * HEAD_DIM) + kv[None, :])
        for block in range(first_block, last_block):
            rows = block * BLOCK_M + tl.arange(0, BLOCK_M)
            row_ok = rows < N
            q = tl.load(q_head + rows[:, None] * stride_qn + feats[None, :] * stride_qd, mask=row_ok[:, None], other=0.0)
            o, r = _output_rows(q, g_kk, g_kv, scale, eps, PRECISION)
            tl.store(O + b * stride_ob + h * stride_oh + rows[:, None] * stride_on + feats[None, :] * stride_od,
                     o.to(O.dtype.element_ty), mask=row_ok[:, None])
            tl.store(R + pid_bh * N + rows, r, mask=row_ok)
    elif BLOCK_C == HEAD_DIM:
        if key_rows:
            dg_kk = tl.load(dgram + feats[:, None] * (2 * HEAD_DIM) + feats[None, :])
            dg_kv = tl.load(dgram + feats[:, None] * (2 * HEAD_DIM) + kv[None, :])
            dg_kv_t = tl.load(dgram + feats[None, :] * (2 * HEAD_DIM) + kv[:, None])
            for block in range(first_block, last_block):
                rows = block * BLOCK_M + tl.arange(0, BLOCK_M)
                row_ok = rows < N
                keep = row_ok
                if HAS_MASK:  # a masked key is in neither Gram matrix, so it gets no gradient
                    keep = tl.load(KEEP + b * stride_mb + rows * stride_mn, mask=row_ok, other=0) != 0
                out = pid_bh * N * HEAD_DIM + rows[:, None] * HEAD_DIM + feats[None, :]
                k = tl.load(k_head + rows[:, None] * stride_kn + feats[None, :] * stride_kd, mask=row_ok[:, None], other=0.0)
                v = tl.load(v_head + rows[:, None] * stride_vn + feats[None, :] * stride_vd, mask=row_ok[:, None], other=0.0)
                dk = 2.0 * _dot_fp32(k, dg_kk, None, PRECISION) + _dot_fp32(v, dg_kv_t, None, PRECISION)
                tl.store(DK + out, tl.where(keep[:, None], dk, 0.0).to(DK.dtype.element_ty), mask=row_ok[:, None])
                dv = _dot_fp32(k, dg_kv, None, PRECISION)
                tl.store(DV + out, tl.where(keep[:, None], dv, 0.0).to(DV.dtype.element_ty), mask=row_ok[:, None])
        else:
            g_kk = tl.load(gram + feats[:, None] * (2 * HEAD_DIM) + feats[None, :])
            g_kv_t = tl.load(gram + feats[None, :] * (2 * HEAD_DIM) + kv[:, None])
            for block in range(first_block, last_block):
                rows = block * BLOCK_M + tl.arange(0, BLOCK_M)
                row_ok = rows < N
                r = tl.load(R + pid_bh * N + rows, mask=row_ok, other=1.0)
                delta = tl.load(DELTA + pid_bh * N + rows, mask=row_ok, other=0.0)
                q = tl.load(q_head + rows[:, None] * stride_qn + feats[None, :] * stride_qd, mask=row_ok[:, None], other=0.0)
                do = tl.load(do_head + rows[:, None] * stride_gn + feats[None, :] * stride_gd, mask=row_ok[:, None], other=0.0)
                dq = ((scale / r)[:, None] * _dot_fp32(do, g_kv_t, None, PRECISION)
                      + (-delta * (scale * scale) / (r * r))[:, None] * _dot_fp32(q, g_kk, None, PRECISION))
                tl.store(DQ + pid_bh * N * HEAD_DIM + rows[:, None] * HEAD_DIM + feats[None, :],
                         dq.to(DQ.dtype.element_ty), mask=row_ok[:, None])
    else:
        for block in range(first_block, last_block):
            rows = block * BLOCK_M + tl.arange(0, BLOCK_M)
            row_ok = rows < N
            q_rows = q_head + rows[:, None] * stride_qn
            # Runtime loops over column blocks, with the row tiles loaded inside them: unrolled, the
            # compiler keeps every tile's fp32 copy live across blocks and spills at D >= 128.
            if BACKWARD:
                do_rows = do_head + rows[:, None] * stride_gn
                k_rows = k_head + rows[:, None] * stride_kn
                v_rows = v_head + rows[:, None] * stride_vn
                r = tl.load(R + pid_bh * N + rows, mask=row_ok, other=1.0)
                delta = tl.load(DELTA + pid_bh * N + rows, mask=row_ok, other=0.0)
                a = (scale / r)[:, None]
                two_c = (-delta * (scale * scale) / (r * r))[:, None]
                keep = row_ok
                if HAS_MASK:  # a masked key is in neither Gram matrix, so it gets no gradient
                    keep = tl.load(KEEP + b * stride_mb + rows * stride_mn, mask=row_ok, other=0) != 0
                for first in range(0, HEAD_DIM, BLOCK_C):
                    cols = first + tl.arange(0, BLOCK_C)
                    out = pid_bh * N * HEAD_DIM + rows[:, None] * HEAD_DIM + cols[None, :]
                    q = tl.load(q_rows + feats[None, :] * stride_qd, mask=row_ok[:, None], other=0.0)
                    do = tl.load(do_rows + feats[None, :] * stride_gd, mask=row_ok[:, None], other=0.0)
                    dq = (a * _times_gram(do, gram, cols, kv, True, PRECISION, HEAD_DIM)
                          + two_c * _times_gram(q, gram, feats, cols, False, PRECISION, HEAD_DIM))
                    tl.store(DQ + out, dq.to(DQ.dtype.element_ty), mask=row_ok[:, None])
                    k = tl.load(k_rows + feats[None, :] * stride_kd, mask=row_ok[:, None], other=0.0)
                    v = tl.load(v_rows + feats[None, :] * stride_vd, mask=row_ok[:, None], other=0.0)
                    dk = (2.0 * _times_gram(k, dgram, feats, cols, False, PRECISION, HEAD_DIM)
                          + _times_gram(v, dgram, cols, kv, True, PRECISION, HEAD_DIM))
                    tl.store(DK + out, tl.where(keep[:, None], dk, 0.0).to(DK.dtype.element_ty), mask=row_ok[:, None])
                    dv = _times_gram(k, dgram, feats, HEAD_DIM + cols, False, PRECISION, HEAD_DIM)
                    tl.store(DV + out, tl.where(keep[:, None], dv, 0.0).to(DV.dtype.element_ty), mask=row_ok[:, None])
            else:
                sum_sq = tl.zeros([BLOCK_M], dtype=tl.float32)
                for first in range(0, HEAD_DIM, BLOCK_C):
                    cols = first + tl.arange(0, BLOCK_C)
                    q = tl.load(q_rows + feats[None, :] * stride_qd, mask=row_ok[:, None], other=0.0)
                    q_cols = tl.load(q_rows + cols[None, :] * stride_qd, mask=row_ok[:, None], other=0.0)
                    sum_sq += tl.sum(_times_gram(q, gram, feats, cols, False, PRECISION, HEAD_DIM)
                                     * q_cols.to(tl.float32), 1)
                r = tl.sqrt(tl.maximum(sum_sq * (scale * scale), 0.0) + eps)
                for first in range(0, HEAD_DIM, BLOCK_C):
                    cols = first + tl.arange(0, BLOCK_C)
                    q = tl.load(q_rows + feats[None, :] * stride_qd, mask=row_ok[:, None], other=0.0)
                    o = (_times_gram(q, gram, feats, HEAD_DIM + cols, False, PRECISION, HEAD_DIM)
                         * (scale / r)[:, None])
                    tl.store(O + b * stride_ob + h * stride_oh + rows[:, None] * stride_on + cols[None, :] * stride_od,
                             o.to(O.dtype.element_ty), mask=row_ok[:, None])
                tl.store(R + pid_bh * N + rows, r, mask=row_ok)


@triton.jit
def _output_rows(q, g_kk, g_kv, scale, eps, PRECISION: tl.constexpr):
    """(O, r) of input-dtype query rows q through whole D x D fp32 matrices G_kk and G_kv."""
    q_g_q = tl.sum(_dot_fp32(q, g_kk, None, PRECISION) * q.to(tl.float32), 1)
    r = tl.sqrt(tl.maximum(q_g_q * (scale * scale), 0.0) + eps)
    return _dot_fp32(q, g_kv, None, PRECISION) * (scale / r)[:, None], r


@triton.jit
def _one_pass_forward_kernel(
    Q, K, V, KEEP, O, R, GRAM,
    stride_qb, stride_qh, stride_qn, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_ob, stride_oh, stride_on, stride_od,
    stride_mb, stride_mn,
    H, N, scale, eps,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HAS_MASK: tl.constexpr,
    RAW_PRECISION: tl.constexpr, MIXED_PRECISION: tl.constexpr,
):
    """The whole forward for one block of query rows: K^T K and K^T V over every key, in registers,
    then O and R for the block. Each row block of a head recomputes the same Gram matrices, which
    costs less than a second launch while keys are few; the first block stores them (GRAM, as
    _gram_kernel lays them out) for the backward."""
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1).to(tl.int64)
    b = pid_bh // H
    h = pid_bh % H
    feats = tl.arange(0, HEAD_DIM)
    k_base = K + b * stride_kb + h * stride_kh
    v_base = V + b * stride_vb + h * stride_vh
    g_kk = tl.zeros([HEAD_DIM, HEAD_DIM], dtype=tl.float32)
    g_kv = tl.zeros([HEAD_DIM, HEAD_DIM], dtype=tl.float32)
    for start_n in range(0, N, BLOCK_N):
        keys = start_n + tl.arange(0, BLOCK_N)
        key_ok = keys < N
        if HAS_MASK:
            key_ok = key_ok & (tl.load(KEEP + b * stride_mb + keys * stride_mn, mask=key_ok, other=0) != 0)
        k = tl.load(k_base + keys[:, None] * stride_kn + feats[None, :] * stride_kd, mask=key_ok[:, None], other=0.0)
        v = tl.load(v_base + keys[:, None] * stride_vn + feats[None, :] * stride_vd, mask=key_ok[:, None], other=0.0)
        k_t = tl.trans(k)
        g_kk = dot(k_t, k, g_kk, RAW_PRECISION)
        g_kv = dot(k_t, v, g_kv, RAW_PRECISION)
    if pid_m == 0:
        gram = GRAM + pid_bh * (HEAD_DIM * 2 * HEAD_DIM) + feats[:, None] * (2 * HEAD_DIM) + feats[None, :]
        tl.store(gram, g_kk)
        tl.store(gram + HEAD_DIM, g_kv)

    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < N
    q = tl.load(Q + b * stride_qb + h * stride_qh + rows[:, None] * stride_qn + feats[None, :] * stride_qd,
                mask=row_ok[:, None], other=0.0)
    o, r = _output_rows(q, g_kk, g_kv, scale, eps, MIXED_PRECISION)
    tl.store(O + b * stride_ob + h * stride_oh + rows[:, None] * stride_on + feats[None, :] * stride_od,
             o.to(O.dtype.element_ty), mask=row_ok[:, None])
    tl.store(R + pid_bh * N + rows, r, mask=row_ok)


@triton.jit
def _one_pass_backward_kernel(
    Q, K, V, O, DO, KEEP, R, GRAM, DQ, DK, DV,
    stride_qb, stride_qh, stride_qn, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_ob, stride_oh, stride_on, stride_od,
    stride_gb, stride_gh, stride_gn, stride_gd,
    stride_mb, stride_mn,
    H, N, scale,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HAS_MASK: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """The whole backward for one block of rows: dG_kk = Q^T diag(c) Q and dG_kv = Q^T diag(a) dO
    over every query, in registers (Delta computed on the way), then dK and dV for the block's keys
    and dQ for its queries (through the forward's GRAM). Like the one-pass forward, each row block
    repeats a short reduction to save two launches and two round trips through memory."""
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1).to(tl.int64)
    b = pid_bh // H
    h = pid_bh % H
    feats = tl.arange(0, HEAD_DIM)
    q_base = Q + b * stride_qb + h * stride_qh
    o_base = O + b * stride_ob + h * stride_oh
    do_base = DO + b * stride_gb + h * stride_gh
    dg_kk = tl.zeros([HEAD_DIM, HEAD_DIM], dtype=tl.float32)
    dg_kv = tl.zeros([HEAD_DIM, HEAD_DIM], dtype=tl.float32)
    for start_n in range(0, N, BLOCK_N):
        rows = start_n + tl.arange(0, BLOCK_N)
        q, do, a, two_c = _query_rows(q_base, o_base, do_base, R + pid_bh * N, rows, rows < N, feats,
                                      stride_qn, stride_qd, stride_on, stride_od, stride_gn, stride_gd, scale)
        q_t = tl.trans(q)
        dg_kk = _dot_fp32(q_t, q * (0.5 * two_c), dg_kk, PRECISION)
        dg_kv = _dot_fp32(q_t, do * a, dg_kv, PRECISION)

    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < N
    out = pid_bh * N * HEAD_DIM + rows[:, None] * HEAD_DIM + feats[None, :]
    keep = row_ok
    if HAS_MASK:  # a masked key is in neither Gram matrix, so it gets no gradient
        keep = tl.load(KEEP + b * stride_mb + rows * stride_mn, mask=row_ok, other=0) != 0
    k = tl.load(K + b * stride_kb + h * stride_kh + rows[:, None] * stride_kn + feats[None, :] * stride_kd,
                mask=row_ok[:, None], other=0.0).to(tl.float32)
    v = tl.load(V + b * stride_vb + h * stride_vh + rows[:, None] * stride_vn + feats[None, :] * stride_vd,
                mask=row_ok[:, None], other=0.0).to(tl.float32)
    dk = 2.0 * _dot_fp32(k, dg_kk, None, PRECISION) + _dot_fp32(v, tl.trans(dg_kv), None, PRECISION)
    tl.store(DK + out, tl.where(keep[:, None], dk, 0.0).to(DK.dtype.element_ty), mask=row_ok[:, None])
    dv = _dot_fp32(k, dg_kv, None, PRECISION)
    tl.store(DV + out, tl.where(keep[:, None], dv, 0.0).to(DV.dtype.element_ty), mask=row_ok[:, None])

    q, do, a, two_c = _query_rows(q_base, o_base, do_base, R + pid_bh * N, rows, row_ok, feats,
                                  stride_qn, stride_qd, stride_on, stride_od, stride_gn, stride_gd, scale)
    gram = GRAM + pid_bh * (HEAD_DIM * 2 * HEAD_DIM) + feats[:, None] * (2 * HEAD_DIM) + feats[None, :]
    dq = (a * _dot_fp32(do, tl.trans(tl.load(gram + HEAD_DIM)), None, PRECISION)
          + two_c * _dot_fp32(q, tl.load(gram), None, PRECISION))
    tl.store(DQ + out, dq.to(DQ.dtype.element_ty), mask=row_ok[:, None])


@triton.jit
def _query_rows(q_base, o_base, do_base, r_row, rows, row_ok, feats,
                stride_qn, stride_qd, stride_on, stride_od, stride_gn, stride_gd, scale):
    """Query rows q and dO (fp32) with their backward weights a = 1 / (sqrt(D) r) and
    2c = -Delta / (D r^2), as (BLOCK, 1) columns; Delta = rowsum(dO * O). Rows past N weigh nothing."""
    q = tl.load(q_base + rows[:, None] * stride_qn + feats[None, :] * stride_qd, mask=row_ok[:, None], other=0.0)
    o = tl.load(o_base + rows[:, None] * stride_on + feats[None, :] * stride_od, mask=row_ok[:, None], other=0.0)
    do = tl.load(do_base + rows[:, None] * stride_gn + feats[None, :] * stride_gd, mask=row_ok[:, None], other=0.0)
    do = do.to(tl.float32)
    delta = tl.sum(o.to(tl.float32) * do, 1)
    r = tl.load(r_row + rows, mask=row_ok, other=1.0)
    return q.to(tl.float32), do, (scale / r)[:, None], (-delta * (scale * scale) / (r * r))[:, None]


# ----------------------------------------------------------------------------------------------
# Launchers. Per column block the row kernel holds two (BLOCK_M, D) input tiles and a (D, BLOCK_C)
# fp32 block of a Gram matrix split in two, and the reduction two (D, BLOCK_C) fp32 accumulators:
# rows and columns shrink as D grows.
# ----------------------------------------------------------------------------------------------

class Tiles(NamedTuple):
    """The Gram form's launch choices, each table keyed by head dim. forward and backward take them
    as an argument, so a tile sweep passes its candidates instead of changing a table."""
    programs: int  # programs per launch that the reductions' row chunks aim for
    row_programs: int  # programs per launch that the row maps aim for, each mapping consecutive row blocks
    reduce: dict  # _gram_kernel forward: (BLOCK_N, BLOCK_C, num_warps, num_stages)
    reduce_backward: dict  # _gram_kernel backward, likewise
    rows: dict  # _rows_kernel forward: (BLOCK_M, BLOCK_C, num_warps, num_stages); above 1 stage, the
    # program's next blocks of rows load while one is mapped
    rows_backward: dict  # _rows_kernel backward, likewise
    one_pass_max_keys: int  # the one-pass forward up to this many keys ...
    one_pass: dict  # ... at these head dims: (BLOCK_M, BLOCK_N, num_warps, num_stages)
    one_pass_backward_max_keys: int  # the one-pass backward likewise
    one_pass_backward: dict


# The fastest measured, bf16 GPU time (results/kernels/TUNING.md): rows and the one-pass forward on an
# H100, the one-pass backward on an H200 (benchmarks/sweep_backward.py). One pass repeats the Gram
# reduction in every block of rows, which costs less than a second launch and a round trip through
# memory only while keys are few, and only at the head dims listed.
TILES = Tiles(
    programs=528, row_programs=2112,
    reduce={16: (128, 16, 4, 3), 32: (128, 32, 4, 3), 64: (64, 64, 4, 3), 128: (64, 32, 4, 3), 256: (32, 32, 8, 2)},
    reduce_backward={16: (128, 16, 4, 2), 32: (64, 32, 4, 2), 64: (64, 64, 4, 2), 128: (32, 32, 4, 2),
                     256: (16, 32, 4, 2)},
    rows={16: (128, 16, 4, 1), 32: (64, 32, 4, 1), 64: (32, 64, 4, 1), 128: (64, 32, 4, 1), 256: (16, 32, 4, 1)},
    rows_backward={16: (128, 16, 4, 1), 32: (64, 32, 4, 1), 64: (32, 64, 2, 1), 128: (64, 32, 4, 1),
                   256: (16, 32, 4, 1)},
    one_pass_max_keys=1024, one_pass={64: (128, 128, 4, 3)},
    one_pass_backward_max_keys=256, one_pass_backward={16: (256, 128, 4, 2), 32: (128, 64, 4, 2)})


def _dot_modes(dtype, split_kernel_head_dim=0):
    """(input x input, input x fp32) dot precisions: see _dot_fp32. "bf16x3" runs only in the split
    kernels (the reduction and the row map) up to D=64: at D=128 and in the one-pass backward it gave
    illegal memory accesses and dQ errors of 0.1 on an H100 (triton 3.6; not diagnosed), so bf16 takes
    "split" there."""
    if dtype == torch.float32:
        return "ieee", "ieee"
    if dtype == torch.bfloat16 and 0 < split_kernel_head_dim <= 64:
        return "tf32", "bf16x3"
    return "tf32", "split"


def _reduce(a, y, keep_args, o_and_r, has_mask, tiles):
    """(B*H, D, 2D) fp32 a^T [a | y] summed over rows, the rows split into chunks across programs.
    Forward (o_and_r None) a = K, y = V. Backward a = Q, y = dO, weighted through the forward's
    (O, r); then also returns Delta (B*H, N) fp32."""
    batch, heads, n, head_dim = a.shape
    weighted = o_and_r is not None
    delta = common.empty((batch * heads, n), torch.float32, a.device) if weighted else None
    if n == 0 or batch * heads == 0:
        gram = torch.zeros(batch * heads, head_dim, 2 * head_dim, dtype=torch.float32, device=a.device)
        return (gram, delta) if weighted else gram
    block_n, block_c, warps, stages = (tiles.reduce_backward if weighted else tiles.reduce)[head_dim]
    if INTERPRETED:
        block_n = min(block_n, 64)
    col_blocks = head_dim // block_c
    wanted = max(1, tiles.programs // (col_blocks * batch * heads))
    chunks = max(1, min(wanted, n // _MIN_ROWS_PER_CHUNK))
    rows_per_chunk = triton.cdiv(triton.cdiv(n, chunks), block_n) * block_n
    chunks = triton.cdiv(n, rows_per_chunk)
    partial = common.empty((chunks, batch * heads, head_dim, 2 * head_dim), torch.float32, a.device)
    keep, stride_mb, stride_mn = keep_args
    o, r = o_and_r if weighted else (a, partial)
    raw, mixed = _dot_modes(a.dtype, head_dim)
    options = {} if INTERPRETED else dict(num_warps=warps, num_stages=stages)
    common.launch(
        _gram_kernel, (col_blocks, chunks, batch * heads), (a, y, o, keep, r, partial if delta is None else delta, partial),
        (*a.stride(), *y.stride(), *o.stride(), stride_mb, stride_mn, heads, n, rows_per_chunk,
         1.0 / math.sqrt(head_dim)),
        HEAD_DIM=head_dim, BLOCK_N=block_n, BLOCK_C=block_c, HAS_MASK=has_mask,
        WEIGHTED=weighted, RAW_PRECISION=raw, MIXED_PRECISION=mixed, **options)
    gram = common.sum_chunks(partial)
    return (gram, delta) if weighted else gram


def _map_rows(q, k, v, do, keep_args, gram, dgram, r, delta, outputs, eps, has_mask, tiles):
    batch, heads, n, head_dim = q.shape
    backward = do is not None
    block_m, block_c, warps, stages = (tiles.rows_backward if backward else tiles.rows)[head_dim]
    if INTERPRETED:
        block_m = min(64, max(16, triton.next_power_of_2(n)))
    blocks = triton.cdiv(n, block_m)
    # Enough programs to fill the device, each mapping consecutive blocks of one head.
    programs_per_head = max(1, min(blocks, tiles.row_programs // max(1, batch * heads)))
    blocks_per_program = max(1, triton.cdiv(blocks, programs_per_head))
    keep, stride_mb, stride_mn = keep_args
    o, dq, dk, dv = outputs
    grad_strides = do.stride() if backward else (0, 0, 0, 0)
    options = {} if INTERPRETED else dict(num_warps=warps, num_stages=stages)
    roles = 2 if backward and block_c == head_dim else 1  # query rows and key rows: see _rows_kernel
    common.launch(
        _rows_kernel, (roles * triton.cdiv(blocks, blocks_per_program), batch * heads),
        (q, k, v, do if backward else q, keep, gram, dgram if backward else gram, r,
         delta if backward else r, o, dq, dk, dv),
        (*q.stride(), *k.stride(), *v.stride(), *grad_strides, *o.stride(), stride_mb, stride_mn,
         heads, n, blocks_per_program, 1.0 / math.sqrt(head_dim), eps),
        HEAD_DIM=head_dim, BLOCK_M=block_m, BLOCK_C=block_c, BACKWARD=backward, HAS_MASK=has_mask,
        PRECISION=_dot_modes(q.dtype, head_dim)[1], **options)


def _one_pass_forward(q, k, v, keep_args, outputs, eps, has_mask, tile):
    batch, heads, n, head_dim = q.shape
    block_m, block_n, warps, stages = tile
    if INTERPRETED:
        block_m = block_n = min(64, max(16, triton.next_power_of_2(n)))
    keep, stride_mb, stride_mn = keep_args
    o, r, gram = outputs
    raw, mixed = _dot_modes(q.dtype)
    options = {} if INTERPRETED else dict(num_warps=warps, num_stages=stages)
    common.launch(
        _one_pass_forward_kernel, (triton.cdiv(n, block_m), batch * heads), (q, k, v, keep, o, r, gram),
        (*q.stride(), *k.stride(), *v.stride(), *o.stride(), stride_mb, stride_mn, heads, n,
         1.0 / math.sqrt(head_dim), eps),
        HEAD_DIM=head_dim, BLOCK_M=block_m, BLOCK_N=block_n, HAS_MASK=has_mask,
        RAW_PRECISION=raw, MIXED_PRECISION=mixed, **options)


def _one_pass_backward(q, k, v, o, r, gram, do, keep_args, grads, has_mask, tile):
    batch, heads, n, head_dim = q.shape
    block_m, block_n, warps, stages = tile
    if INTERPRETED:
        block_m = block_n = min(64, max(16, triton.next_power_of_2(n)))
    keep, stride_mb, stride_mn = keep_args
    options = {} if INTERPRETED else dict(num_warps=warps, num_stages=stages)
    common.launch(
        _one_pass_backward_kernel, (triton.cdiv(n, block_m), batch * heads), (q, k, v, o, do, keep, r, gram, *grads),
        (*q.stride(), *k.stride(), *v.stride(), *o.stride(), *do.stride(), stride_mb, stride_mn, heads, n,
         1.0 / math.sqrt(head_dim)),
        HEAD_DIM=head_dim, BLOCK_M=block_m, BLOCK_N=block_n, HAS_MASK=has_mask,
        PRECISION=_dot_modes(q.dtype)[1], **options)


def _one_pass_tile(n, head_dim, table, max_keys):
    """The one-pass kernel's tile at N keys of head dim D, or None where the split kernels run."""
    return table.get(head_dim) if 0 < n <= max_keys else None


def forward(q, k, v, key_padding_mask, eps, tiles=None):
    """(O, r, [G_kk | G_kv]) for checked, supported inputs; `tiles` defaults to TILES."""
    tiles = TILES if tiles is None else tiles
    batch, heads, n, head_dim = q.shape
    keep_args = common.mask_args(key_padding_mask, q)
    has_mask = key_padding_mask is not None
    o = common.empty(q.shape, q.dtype, q.device)
    r = common.empty((batch * heads, n), torch.float32, q.device)
    tile = _one_pass_tile(n, head_dim, tiles.one_pass, tiles.one_pass_max_keys)
    if tile is not None:
        gram = common.empty((batch * heads, head_dim, 2 * head_dim), torch.float32, q.device)
        _one_pass_forward(q, k, v, keep_args, (o, r, gram), eps, has_mask, tile)
    else:
        gram = _reduce(k, v, keep_args, None, has_mask, tiles)
        _map_rows(q, k, v, None, keep_args, gram, None, r, None, (o, o, o, o), eps, has_mask, tiles)
    return o, r, gram


def backward(q, k, v, key_padding_mask, o, r, gram, do, tiles=None):
    """(dQ, dK, dV) from the forward's inputs and outputs and a contiguous dO; `tiles` defaults to TILES."""
    tiles = TILES if tiles is None else tiles
    keep_args = common.mask_args(key_padding_mask, q)
    has_mask = key_padding_mask is not None
    dq, dk, dv = (common.empty(q.shape, q.dtype, q.device) for _ in range(3))
    tile = _one_pass_tile(q.shape[2], q.shape[3], tiles.one_pass_backward, tiles.one_pass_backward_max_keys)
    if tile is not None:
        _one_pass_backward(q, k, v, o, r, gram, do, keep_args, (dq, dk, dv), has_mask, tile)
        return dq, dk, dv
    # Query rows are never masked: only the key side of the Gram matrices excludes masked keys.
    dgram, delta = _reduce(q, do, keep_args, (o, r), False, tiles)
    _map_rows(q, k, v, do, keep_args, gram, dgram, r, delta, (dq, dq, dk, dv), 0.0, has_mask, tiles)
    return dq, dk, dv
