"""The kernel benchmark's report on CPU: ratios to the fastest SDPA backend and the napkin prediction beside
each fused kernel's measurement (timings themselves need a GPU)."""
import argparse
import json

import pytest

from benchmarks import kernels as bench
from benchmarks.results import write_results
from ncd_layers import predict_attention_time


def timed(method, shape, fwd_ms, gpu_fwd_ms=None):
    """A row as bench.run makes it; GPU-time keys only when gpu_fwd_ms is given."""
    row = dict(dtype="bf16", shape=list(shape), method=method, status="ok", peak_mib=1.0)
    for p, factor in bench.PASSES.items():
        for timing, ms in (("", fwd_ms), (" gpu", gpu_fwd_ms)):
            if ms is not None:
                row[f"{p}{timing} ms"] = ms * factor
                row[f"{p}{timing} TFLOP/s"] = 1.0
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
    tables = [block.splitlines() for block in table.split("\n\n") if block.startswith("| dtype")]
    assert len(tables) == 4  # eager and GPU time, each as TFLOP/s and against the roofline
    for lines in tables:  # every row, failed ones included, fills every column of its table
        assert {line.count("|") for line in lines} == {lines[0].count("|")}


def test_results_are_written_whole_and_leave_no_partial_file(tmp_path):
    raw = {"environment": {"device": "test"}, "rows": [{"method": "flashsign", "fwd ms": 0.5}]}
    write_results("# report\n", raw, tmp_path / "r.md", tmp_path / "r.json")
    assert (tmp_path / "r.md").read_text() == "# report\n"
    assert json.loads((tmp_path / "r.json").read_text()) == raw
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.md"]


def test_targets_are_judged_under_each_timing_separately():
    shape = (4, 16, 1024, 64)
    rows = [timed("flashsign", shape, fwd_ms=0.10, gpu_fwd_ms=0.03), timed("sdpa CUDNN_ATTENTION", shape, 0.05, 0.04),
            timed("sdpa FLASH_ATTENTION", shape, 0.07, 0.06), timed("flashsign stream", shape, 0.2),
            dict(dtype="bf16", shape=list(shape), method="sdpa EFFICIENT_ATTENTION", status="out of memory")]
    bench.add_ratios(rows)
    flashsign = rows[0]
    assert flashsign["fwd vs best sdpa"] == pytest.approx(0.5) and flashsign["fwd best sdpa"] == "CUDNN_ATTENTION"
    assert flashsign["fwd gpu vs best sdpa"] == pytest.approx(4 / 3, rel=1e-3)
    criteria = {target: (need, measured) for target, need, measured in bench.done_criteria(rows)}
    need, measured = criteria["fwd >= 1.25x bf16 (4, 16, 1024, 64)"]
    assert need == 1.25 and measured == {"Eager": pytest.approx(0.5), "GPU time": pytest.approx(1.333, abs=1e-3)}
    assert criteria["bwd >= 1.2x bf16 (4, 16, 1024, 64)"][0] == 1.2  # N=1024 asks more of the backward
    report = bench.markdown(rows, {"device": "test"})
    assert "| fwd >= 1.25x bf16 (4, 16, 1024, 64) | 0.500 (NO) | 1.333 (met) |" in report
    gpu_table = report[report.index("## GPU time"):report.index("## The issue")]
    assert "flashsign stream | not timed" in gpu_table


def test_no_ratio_when_a_backend_that_ran_lacks_that_timing():
    shape = (4, 16, 4096, 64)
    rows = [timed("flashsign", shape, 0.1, 0.05), timed("sdpa CUDNN_ATTENTION", shape, 0.5),  # no GPU time
            timed("sdpa FLASH_ATTENTION", shape, 0.9, 0.9)]
    bench.add_ratios(rows)
    assert rows[0]["fwd vs best sdpa"] == pytest.approx(5.0)
    assert "fwd gpu vs best sdpa" not in rows[0]  # cuDNN, the fastest, was not graphed: no ratio vs flash
    criteria = {target: measured for target, _, measured in bench.done_criteria(rows)}
    assert criteria["fwd >= 1.25x bf16 (4, 16, 4096, 64)"]["GPU time"] is None


def test_a_flashsign_case_that_failed_still_lists_its_targets_as_missed():
    shape = (4, 16, 4096, 128)
    rows = [dict(dtype="fp16", shape=list(shape), method="flashsign", status="out of memory"),
            timed("sdpa CUDNN_ATTENTION", shape, 0.5, 0.5)]
    bench.add_ratios(rows)
    report = bench.markdown(rows, {"device": "test"})
    assert "| fwd >= 1.1x fp16 (4, 16, 4096, 128) | not measured (NO) | not measured (NO) |" in report


def test_shapes_are_parsed_or_rejected_by_name():
    assert bench.parse_shape("4,16,1024,64") == (4, 16, 1024, 64)
    for bad in ("4,16,1024", "4,16,x,64", "0,16,1024,64"):
        with pytest.raises(argparse.ArgumentTypeError, match="four positive integers"):
            bench.parse_shape(bad)


def test_bandwidth_and_share_of_the_roofline_by_hand():
    # (1, 1, 1000, 125) bf16: 250,000 bytes a tensor, so the forward moves 1e6 bytes, the backward 2e6 and
    # both 3e6; at a copy bandwidth of 2.5 TB/s that takes 0.4, 0.8 and 1.2 us.
    shape = (1, 1, 1000, 125)
    rows = [timed("flashsign", shape, fwd_ms=0.001, gpu_fwd_ms=0.0008), timed("torch gram", shape, 0.01),
            timed("torch gram compiled", shape, 0.004)]
    bench.add_ratios(rows)
    bench.add_bandwidth(rows, copy_tbps=2.5)
    flashsign = rows[0]
    assert flashsign["roofline ms"] == {"fwd": 0.0004, "bwd": 0.0008, "fwd+bwd": 0.0012}
    # Times (timed() scales the forward's by 2.5 and 3.5): 1 us, 2.5 us and 3.5 us eager; 0.8 us forward on the GPU.
    assert flashsign["fwd TB/s"] == pytest.approx(1.0) and flashsign["fwd roofline share"] == pytest.approx(0.4)
    assert flashsign["bwd TB/s"] == pytest.approx(0.8) and flashsign["bwd roofline share"] == pytest.approx(0.32)
    assert flashsign["fwd+bwd TB/s"] == pytest.approx(0.857) and flashsign["fwd+bwd roofline share"] == pytest.approx(0.343)
    assert flashsign["fwd gpu TB/s"] == pytest.approx(1.25) and flashsign["fwd gpu roofline share"] == pytest.approx(0.5)
    assert flashsign["fwd vs torch gram"] == pytest.approx(10.0)
    assert flashsign["fwd+bwd vs torch gram compiled"] == pytest.approx(4.0)
    assert "fwd gpu vs torch gram" not in flashsign  # the torch rows have no GPU time
    assert "fwd vs best sdpa" not in flashsign  # no SDPA backend ran
    report = bench.markdown(rows, {"device": "test"})
    assert ("| bf16 | (1, 1, 1000, 125) | flashsign | - | 0.001 / 0.0025 / 0.0035 | 0.0004 / 0.0008 / 0.0012 | "
            "1.0 / 0.8 / 0.857 | 0.4 / 0.32 / 0.343 | 10.0 / 10.0 / 10.0 | 4.0 / 4.0 / 4.0 |") in report


def test_roofline_targets_are_judged_per_timing_and_eager_only_at_1024_keys():
    long, short = (2, 16, 8192, 64), (4, 16, 1024, 64)
    rows = [timed("flashsign", long, 0.1, 0.05), timed("torch gram", long, 0.2, 0.2),
            timed("flashsign", short, 0.1, 0.03), timed("sdpa CUDNN_ATTENTION", short, 0.05, 0.04),
            timed("torch gram", short, 0.25, 0.1)]
    bench.add_ratios(rows)
    rows[0].update({"fwd roofline share": 0.71, "fwd gpu roofline share": 0.69, "fwd+bwd roofline share": 0.6})
    criteria = {target: (need, measured) for target, need, measured in bench.roofline_criteria(rows)}
    assert criteria["fwd >= 70% of the roofline bf16 (2, 16, 8192, 64)"] == (
        0.7, {"Eager": 0.71, "GPU time": 0.69})
    assert criteria["fwd+bwd >= 3.0x torch gram bf16 (4, 16, 1024, 64)"] == (
        3.0, {"Eager": pytest.approx(2.5), "GPU time": pytest.approx(3.333, abs=1e-3)})
    assert "fwd+bwd >= 60% of the roofline bf16 (4, 16, 1024, 64)" not in criteria  # not a roofline shape
    report = bench.markdown(rows, {"device": "test"})
    assert "| fwd >= 70% of the roofline bf16 (2, 16, 8192, 64) | 0.710 (met) | 0.690 (NO) |" in report
    assert "| fwd+bwd >= 60% of the roofline bf16 (2, 16, 8192, 64) | 0.600 (met) | not measured (NO) |" in report
    assert "| bwd eager >= 1.2x best sdpa bf16 (4, 16, 1024, 64) | 0.500 (NO) | - |" in report


def test_only_methods_of_quadratic_work_are_left_out_at_long_sequences():
    quadratic = {name for name in bench.methods() if bench.is_quadratic(name)}
    assert quadratic == {"flashsign stream", "torch spherical", "sdpa FLASH_ATTENTION", "sdpa CUDNN_ATTENTION",
                         "sdpa EFFICIENT_ATTENTION"}


def test_derived_figures_go_on_a_copy_of_the_measured_rows():
    shape = (4, 16, 4096, 64)
    measured = [timed("flashsign", shape, 0.1), timed("sdpa CUDNN_ATTENTION", shape, 0.5)]
    derived = bench.derive(measured, copy_tbps=3.0)
    assert derived[0]["fwd vs best sdpa"] == pytest.approx(5.0) and "fwd TB/s" in derived[0]
    assert "fwd vs best sdpa" not in measured[0] and "roofline ms" not in measured[0]  # a report of a partial run

