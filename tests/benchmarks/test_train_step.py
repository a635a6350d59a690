"""The training-step benchmark at tiny sizes on CPU."""
import json

import pytest
import torch

from benchmarks import train_step


def test_bench_train_runs_at_tiny_sizes(tmp_path):
    rows, attention_map = train_step.main(
        ["--genes", "32", "--tokens-per-batch", "64", "--steps", "1", "--warmup", "1", "--width", "32",
         "--heads", "2", "--map-genes", "32", "--map-cells", "5", "--map-batch", "2", "--device", "cpu",
         "--markdown", str(tmp_path / "bench.md"), "--json", str(tmp_path / "bench.json")])
    by_method = {row["method"]: row for row in rows}
    assert set(by_method) == set(train_step.methods())
    for name in ("spherical (FlashSign)", "softmax sdpa MATH"):
        row = by_method[name]
        assert row["status"] == "ok" and row["cells_per_batch"] == 2
        assert row["tokens_per_s"] == pytest.approx(32 * row["cells_per_s"])
        assert row["attention_tflops"] == pytest.approx(3.5 * 4 * 2 * 32**2 * 32 * 2 / (row["step_ms"] * 1e-3) * 1e-12)
    assert attention_map["map_shape"] == [2, 2, 32, 32] and attention_map["finite"]
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["environment"]["command"].startswith("python -m benchmarks.train_step --genes 32")
    assert "spherical (FlashSign)" in (tmp_path / "bench.md").read_text()


def test_bench_models_differ_only_in_the_normaliser():
    spherical, softmax = (train_step.build_model(16, normaliser, 32, 2, 2, torch.device("cpu"))
                          for normaliser in ("l2", "softmax"))
    for (name, a), (other, b) in zip(spherical.state_dict().items(), softmax.state_dict().items()):
        assert name == other and torch.equal(a, b)
