"""The kernel benchmark's report on CPU: ratios to the fastest SDPA backend and the napkin prediction beside
each fused kernel's measurement (timings themselves need a GPU)."""
import json

import pytest

from kernels import bench
from ncd_layers import predict_attention_time


def timed(method, shape, fwd_ms):
    row = dict(dtype="bf16", shape=list(shape), method=method, status="ok", peak_mib=1.0)
    for p, factor in bench.PASSES.items():
        row[f"{p} ms"] = fwd_ms * factor
        row[f"{p} TFLOP/s"] = 1.0
    return row


def test_report_has_ratios_and_napkin_predictions():
    shape = (4, 16, 4096, 64)
    rows = [timed("flashsign stream", shape, 0.5), timed("sdpa CUDNN_ATTENTION", shape, 0.6),
            timed("sdpa FLASH_ATTENTION", shape, 0.9), timed("torch spherical", shape, 10.0),
            dict(dtype="bf16", shape=list(shape), method="sdpa EFFICIENT_ATTENTION", status="out of memory")]
    bench.add_ratios(rows)
    bench.add_napkin_predictions(rows)
    flashsign, cudnn = rows[0], rows[1]
    assert flashsign["fwd vs best sdpa"] == pytest.approx(1.2) and flashsign["fwd best sdpa"] == "CUDNN_ATTENTION"
    assert flashsign["napkin fwd ms"] == pytest.approx(predict_attention_time(*shape, "l2") * 1e3, rel=1e-3)
    assert cudnn["napkin fwd ms"] == pytest.approx(predict_attention_time(*shape, "softmax") * 1e3, rel=1e-3)
    assert "napkin fwd ms" not in rows[3]  # the unfused torch reference has no fused prediction
    dispatched = timed("flashsign", shape, 0.1)  # the public function: either form
    bench.add_napkin_predictions([dispatched])
    assert "napkin fwd ms" not in dispatched  # the model prices the streamed form only
    table = bench.markdown(rows, {"device": "test"})
    header = next(line for line in table.splitlines() if line.startswith("| dtype"))
    assert "napkin fwd ms" in header
    widths = {line.count("|") for line in table.splitlines() if line.startswith("| bf16")}
    assert widths == {header.count("|")}  # every row, failed ones included, fills every column


def test_results_are_written_whole_and_leave_no_partial_file(tmp_path):
    raw = {"environment": {"device": "test"}, "rows": [{"method": "flashsign", "fwd ms": 0.5}]}
    bench.write_results("# report\n", raw, tmp_path / "r.md", tmp_path / "r.json")
    assert (tmp_path / "r.md").read_text() == "# report\n"
    assert json.loads((tmp_path / "r.json").read_text()) == raw
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.md"]
