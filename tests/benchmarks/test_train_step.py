"""The training-step benchmark at tiny sizes on CPU."""
import json
import pathlib
import re

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


def test_breakdown_puts_every_flashsign_kernel_under_attention():
    sources = (pathlib.Path(__file__).parents[2] / "kernels").glob("*.py")
    names = [name for path in sources for name in re.findall(r"^def (\w+_kernel)\(", path.read_text(), re.M)]
    assert len(names) >= 8
    assert {train_step.part_of(name) for name in names} == {"attention"}


@pytest.mark.parametrize("kernel, part", [
    ("void at::native::(anonymous namespace)::multi_tensor_apply_kernel<FusedAdamMathFunctor>", "optimizer"),
    ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64", "matmuls"),
    ("void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<c10::BFloat16, float>", "norms"),
    ("cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16", "attention"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>>", "other")])
def test_breakdown_parts_of_torch_kernels(kernel, part):
    assert train_step.part_of(kernel) == part


def test_speedup_verdicts_take_each_side_at_its_fastest():
    def row(method, steps, cells_per_s):
        return dict(genes=2048, method=method, steps=steps, cells_per_s=cells_per_s, status="ok", cells_per_batch=64)

    rows = [row("spherical (FlashSign)", "eager", 50.0), row("spherical (FlashSign)", "CUDA graph", 160.0),
            row("softmax sdpa CUDNN_ATTENTION", "eager", 100.0), row("softmax sdpa FLASH_ATTENTION", "CUDA graph", 90.0),
            dict(row("softmax sdpa MATH", "CUDA graph", 0.0), status="out of memory")]
    (name, measured, met), = [check for check in train_step.verdicts(rows, None) if "2048 genes" in check[0]]
    assert measured.startswith("1.60x (CUDA graph against softmax sdpa CUDNN_ATTENTION, eager)") and met
