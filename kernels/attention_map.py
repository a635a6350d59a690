"""The spherical attention map summed over cells, without any per-cell N x N buffer.

Once r is known, spherical weights are linear in the scores: P_b = diag(1/r_b) Q_b K_b^T / sqrt(D).
So the sum over cells is one matrix product, [Q_1/r_1 | ... | Q_B/r_B] @ [K_1 | ... | K_B]^T / sqrt(D),
and r needs no score matrix either: r_bi^2 = q_bi^T (K_b^T K_b) q_bi / D + eps, a D x D Gram matrix
per cell and head (masked keys left out). Cells are taken in chunks so the stacked operands stay
bounded; the only N x N array is the (H, N, N) result.
"""
import math

import torch

from kernels.gram import gram_row_norms

_CHUNK_ELEMENTS = 1 << 26  # stacked operand size per chunk (elements), about 256 MB in fp32


def spherical_attention_map(q, k, key_padding_mask=None, eps=1e-6):
    """Sum over cells b of P_b = S_b / r_b, with S_b = Q_b K_b^T / sqrt(D).

    q, k: (B, H, N, D). key_padding_mask: optional (B, N) bool, True = real gene/token; padding
    keys get weight zero and padding queries give zero rows. Returns (H, N, N) with rows = queries
    and columns = keys, in float32 (float64 for float64 inputs).
    """
    if q.dim() != 4 or q.shape != k.shape:
        raise ValueError(f"q and k must share one (B, H, N, D) shape, got {tuple(q.shape)}, {tuple(k.shape)}")
    batch, heads, n, head_dim = q.shape
    if key_padding_mask is not None and key_padding_mask.shape != (batch, n):
        raise ValueError(f"key_padding_mask must have shape (B, N) = {(batch, n)}, got {tuple(key_padding_mask.shape)}")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")

    dtype = torch.promote_types(q.dtype, torch.float32)
    total = torch.zeros(heads, n, n, dtype=dtype, device=q.device)
    cells_per_chunk = max(1, _CHUNK_ELEMENTS // (heads * n * head_dim))
    scale = 1.0 / math.sqrt(head_dim)
    for start in range(0, batch, cells_per_chunk):
        cells = slice(start, start + cells_per_chunk)
        qc, kc = q[cells].to(dtype), k[cells].to(dtype)
        if key_padding_mask is not None:
            real = key_padding_mask[cells, None, :, None].to(dtype)
            qc, kc = qc * real, kc * real
        weighted_q = qc * (scale / gram_row_norms(qc, kc, eps)).unsqueeze(-1)
        # (H, N, b*D) @ (H, b*D, N): the sum over cells is the contraction over the stacked axis.
        stacked_q = weighted_q.permute(1, 2, 0, 3).reshape(heads, n, -1)
        stacked_k = kc.permute(1, 2, 0, 3).reshape(heads, n, -1)
        total.baddbmm_(stacked_q, stacked_k.transpose(1, 2))
    return total
