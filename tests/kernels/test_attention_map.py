"""The cell-summed spherical attention map against explicit per-cell N x N weights in float64."""
import math
import zlib

import pytest
import torch

import kernels.attention_map as attention_map
from kernels import spherical_attention_map


@pytest.fixture(autouse=True)
def fresh_seed(request):
    torch.manual_seed(zlib.crc32(request.node.nodeid.encode()))


def explicit_map(q, k, mask, eps=1e-6):
    """sum_b S_b / r_b with S_b materialised per cell; padding keys and queries zeroed."""
    q, k = q.double(), k.double()
    total = 0
    for b in range(q.shape[0]):
        s = q[b] @ k[b].transpose(-1, -2) / math.sqrt(q.shape[-1])   # (H, N, N)
        if mask is not None:
            s = s * mask[b, None, :, None] * mask[b, None, None, :]
        total = total + s / torch.sqrt(s.square().sum(-1, keepdim=True) + eps)
    return total


def make_mask(batch, n):
    mask = torch.rand(batch, n) > 0.25
    mask[0, :] = False  # one cell with no real genes at all
    return mask


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5), (torch.bfloat16, 1e-5)])
@pytest.mark.parametrize("masked", [False, True])
def test_matches_explicit_per_cell_sum(dtype, tol, masked):
    q, k = (torch.randn(5, 3, 23, 16).to(dtype) for _ in range(2))
    mask = make_mask(5, 23) if masked else None
    result = spherical_attention_map(q, k, key_padding_mask=mask)
    expected = explicit_map(q, k, mask)
    assert result.shape == (3, 23, 23)
    assert result.dtype == torch.promote_types(dtype, torch.float32)
    assert ((result.double() - expected).norm() / expected.norm()).item() < tol


def test_padding_queries_and_keys_get_zero_weight():
    q, k = torch.randn(2, 2, 9, 8), torch.randn(2, 2, 9, 8)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[:, 6:] = False
    result = spherical_attention_map(q, k, key_padding_mask=mask)
    assert torch.count_nonzero(result[:, 6:, :]) == 0
    assert torch.count_nonzero(result[:, :, 6:]) == 0


def test_chunks_over_cells_give_the_same_sum(monkeypatch):
    q, k = torch.randn(7, 2, 11, 16, dtype=torch.float64), torch.randn(7, 2, 11, 16, dtype=torch.float64)
    whole = spherical_attention_map(q, k)
    monkeypatch.setattr(attention_map, "_CHUNK_ELEMENTS", 2 * 11 * 16 * 3)  # three cells a chunk
    torch.testing.assert_close(spherical_attention_map(q, k), whole)


def test_rows_of_one_cell_are_unit_vectors():
    q, k = torch.randn(1, 2, 10, 16, dtype=torch.float64), torch.randn(1, 2, 10, 16, dtype=torch.float64)
    norms = spherical_attention_map(q, k, eps=1e-12).norm(dim=-1)
    torch.testing.assert_close(norms, torch.ones_like(norms))


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="shape"):
        spherical_attention_map(torch.zeros(2, 1, 5, 4), torch.zeros(2, 1, 6, 4))
    with pytest.raises(ValueError, match=r"\(B, N\)"):
        spherical_attention_map(torch.zeros(2, 1, 5, 4), torch.zeros(2, 1, 5, 4),
                                key_padding_mask=torch.ones(2, 4, dtype=torch.bool))
