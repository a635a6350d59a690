"""Spherical attention through D x D Gram matrices: the same function as FlashSign in O(N D^2).

Without a SoftMax, the weights are linear in the scores once r is known, so per batch and head

    r_i^2 = q_i^T (K^T K) q_i / D + eps,    O = diag(1/r) Q (K^T V) / sqrt(D)

with masked keys left out of both K^T K and K^T V. No N x N array exists at any point, and the
cost is O(N D^2) instead of O(N^2 D). Plain torch (autograd gives the backward); sums in fp32.
Rounding differs from the streamed form: here the quadratic form q^T G q can lose relative
accuracy when q is almost orthogonal to every key (r tiny against |q| |K|).
"""
import math

import torch


def gram_row_norms(q, k, eps):
    """r (..., N) with r_i^2 = sum_j (q_i . k_j)^2 / D + eps, via K^T K. Masked keys must be zero."""
    gram = k.transpose(-1, -2) @ k
    sq_norm = ((q @ gram) * q).sum(-1).clamp_min(0.0) / q.shape[-1]
    return torch.sqrt(sq_norm + eps)


def spherical_attention_gram(q, k, v, key_padding_mask=None, eps=1e-6):
    """Same contract as kernels.flashsign (q, k, v: (B, H, N, D); mask (B, N), True = real key)."""
    dtype = torch.promote_types(q.dtype, torch.float32)
    q32, k32, v32 = q.to(dtype), k.to(dtype), v.to(dtype)
    if key_padding_mask is not None:
        k32 = k32 * key_padding_mask[:, None, :, None].to(dtype)
    r = gram_row_norms(q32, k32, eps)
    out = (q32 @ (k32.transpose(-1, -2) @ v32)) / (math.sqrt(q.shape[-1]) * r.unsqueeze(-1))
    return out.to(q.dtype)
