"""Torch reference for spherical attention: the ground truth every kernel is tested against.

`O_i = sum_j s_ij v_j / sqrt(sum_j s_ij^2 + eps)` with `s = q k^T / sqrt(D)`; masked keys
(key_padding_mask False) contribute nothing, so a row with no real key gives zeros.
Scores, their squares and the normalisation are computed in at least fp32 (fp16 would overflow
for q k^T beyond 65504, and far sooner when squared); the weights are rounded to v's dtype for the
product with v. It materialises the N x N score matrix: fine for tests and small CPU work, not
for long sequences.
"""
import math

import torch


def spherical_attention_reference(q, k, v, key_padding_mask=None, eps=1e-6):
    """q, k, v: (B, H, N, D); key_padding_mask: (B, N) bool, True = real key."""
    dtype = torch.promote_types(q.dtype, torch.float32)
    s = torch.matmul(q.to(dtype), k.to(dtype).transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if key_padding_mask is not None:
        s = s.masked_fill(~key_padding_mask[:, None, None, :], 0.0)
    r = torch.sqrt(s.square().sum(-1, keepdim=True) + eps)
    return torch.matmul((s / r).to(v.dtype), v)
