"""The napkin cost model against attention counted by hand, at two sizes."""
import pytest

from ncd_layers import (Axis, Hardware, TransformerAxes, attention_core, cost, multi_head_attention,
                        predict_attention_time)

# Round numbers make the hand arithmetic checkable.
HW = Hardware("napkin", matmul_flops_per_s=1e12, hbm_bytes_per_s=1e11, vector_flops_per_s=1e11,
              special_ops_per_s=1e10)


def hand_counted(B, H, N, D, normaliser, s):
    """Scores QK^T/sqrt(D), normalise over keys, weights times V, as three kernels or one."""
    scores = dict(matmul=2 * B * H * N * N * D, vector=B * H * N * N, special=0,
                  bytes=s * (2 * B * N * H * D + B * H * N * N))
    if normaliser == "softmax":  # max, subtract, sum, divide and one exp per score
        norm = dict(matmul=0, vector=4 * B * H * N * N, special=B * H * N * N, bytes=s * 2 * B * H * N * N)
    else:  # square, sum, scale per score and one rsqrt per row
        norm = dict(matmul=0, vector=3 * B * H * N * N, special=B * H * N, bytes=s * 2 * B * H * N * N)
    mix = dict(matmul=2 * B * H * N * N * D, vector=0, special=0, bytes=s * (B * H * N * N + 2 * B * N * H * D))
    time = lambda c: max(c["matmul"] / 1e12 + c["vector"] / 1e11 + c["special"] / 1e10, c["bytes"] / 1e11)
    kernels = (scores, norm, mix)
    total = {key: sum(c[key] for c in kernels) for key in scores}
    fused = dict(total, bytes=s * 4 * B * N * H * D)
    return total, sum(map(time, kernels)), fused, time(fused)


@pytest.mark.parametrize("normaliser", ["l2", "softmax"])
@pytest.mark.parametrize("B, H, N, D, s", [(2, 4, 128, 16, 2), (8, 16, 1024, 64, 4)])
def test_attention_cost_matches_hand_counts(normaliser, B, H, N, D, s):
    core = attention_core(TransformerAxes.make(H * D, H), normaliser).over(Axis("b"))
    report = cost(core, {"b": B, "x": N, "y": N}, HW, bytes_per_element=s)
    unfused, unfused_time, fused, fused_time = hand_counted(B, H, N, D, normaliser, s)
    for got, want, seconds in ((report.unfused, unfused, unfused_time), (report.fused, fused, fused_time)):
        assert (got.work.matmul, got.work.vector, got.work.special) == (want["matmul"], want["vector"],
                                                                        want["special"])
        assert got.hbm_bytes == want["bytes"]
        assert got.seconds == pytest.approx(seconds, rel=1e-12)
    assert predict_attention_time(B, H, N, D, normaliser, s, HW) == pytest.approx(fused_time, rel=1e-12)


def test_projection_maps_are_counted_with_their_weights():
    B, N, width, heads = 2, 64, 32, 4
    ax = TransformerAxes.make(width, heads)
    report = cost(multi_head_attention(ax, "l2").over(Axis("b")), {"b": B, "x": N, "y": N}, HW, 2)
    core = cost(attention_core(ax, "l2").over(Axis("b")), {"b": B, "x": N, "y": N}, HW, 2)
    one_map_matmul = 2 * B * N * width * width
    one_map_bytes = 2 * (B * N * width + B * N * width + width * width + width)  # in, out, weight, bias
    assert report.fused.work.matmul == core.fused.work.matmul + 4 * one_map_matmul
    assert report.fused.hbm_bytes == core.fused.hbm_bytes + 4 * one_map_bytes


def test_free_axes_need_sizes():
    core = attention_core(TransformerAxes.make(32, 2), "l2").over(Axis("b"))
    with pytest.raises(ValueError, match=r"free axes \['b', 'y'\]"):
        cost(core, {"x": 16}, HW)


def test_report_prints_both_lowerings():
    core = attention_core(TransformerAxes.make(32, 2), "softmax").over(Axis("b"))
    text = str(cost(core, {"b": 1, "x": 16, "y": 16}, HW))
    assert "unfused" in text and "fused" in text and "napkin" in text
