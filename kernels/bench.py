"""Kernel throughput: FlashSign against naive torch spherical attention and every SDPA backend.

    python -m kernels.bench [--dtypes bf16 fp16] [--markdown kernels/BENCHMARKS.md] [--json PATH]

All methods run in one process on one GPU, forward, backward and forward+backward, timed with
triton.testing.do_bench (median) on fresh random inputs per method. Attention FLOPs are
4*B*H*N^2*D forward and 2.5x that backward. Ratios are the fastest SoftMax backend's time over
each method's time (above 1 = faster). The ceiling is a measured bf16 8192^3 matrix product.
Results go to W&B (offline unless WANDB_MODE says otherwise; skipped if wandb is absent).
"""
import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys

import torch
import torch.nn.functional as F
import triton
from torch.nn.attention import SDPBackend, sdpa_kernel

from kernels.flashsign_triton import _takes_gram_form, flashsign
from kernels.reference import spherical_attention_reference

# (B, H, N, D). The last is the GRN model's own: 64 cells a batch, 4 heads, 2048 genes, head dim 16.
SHAPES = [(4, 16, 1024, 64), (4, 16, 4096, 64), (2, 16, 8192, 64), (4, 16, 4096, 128),
          (1, 16, 16384, 128), (64, 4, 2048, 16)]
GRN_SHAPE = (64, 4, 2048, 16)
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
SDPA_BACKENDS = ["FLASH_ATTENTION", "CUDNN_ATTENTION", "EFFICIENT_ATTENTION"]
PASSES = {"fwd": 1.0, "bwd": 2.5, "fwd+bwd": 3.5}  # FLOPs as multiples of 4*B*H*N^2*D


def methods():
    """name -> (attention function, context it runs in)."""
    table = {"flashsign": (flashsign, contextlib.nullcontext),
             "flashsign stream": (lambda q, k, v: flashsign(q, k, v, method="stream"), contextlib.nullcontext),
             "flashsign gram": (lambda q, k, v: flashsign(q, k, v, method="gram"), contextlib.nullcontext),
             "torch spherical": (spherical_attention_reference, contextlib.nullcontext)}
    for backend in SDPA_BACKENDS:
        table[f"sdpa {backend}"] = (F.scaled_dot_product_attention,
                                    lambda b=backend: sdpa_kernel([getattr(SDPBackend, b)]))
    return table


def time_passes(attend, shape, dtype):
    """Median milliseconds of each pass and peak extra memory (MiB) of one forward+backward."""
    q, k, v = (torch.randn(shape, device="cuda", dtype=dtype, requires_grad=True) for _ in range(3))
    grad_out = torch.randn(shape, device="cuda", dtype=dtype)
    inputs = [q, k, v]

    def fwd():
        return attend(q, k, v)

    def fwd_bwd():
        fwd().backward(grad_out)

    fwd_bwd()  # compile and let SDPA pick its kernels outside the timings
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fwd_bwd()
    torch.cuda.synchronize()
    peak_mib = (torch.cuda.max_memory_allocated() - base) / 2**20

    ms = {"fwd": triton.testing.do_bench(fwd, return_mode="median")}
    out = fwd()
    ms["bwd"] = triton.testing.do_bench(lambda: out.backward(grad_out, retain_graph=True),
                                        grad_to_none=inputs, return_mode="median")
    del out
    ms["fwd+bwd"] = triton.testing.do_bench(fwd_bwd, grad_to_none=inputs, return_mode="median")
    return ms, peak_mib


def gemm_tflops():
    a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    return 2 * 8192**3 / triton.testing.do_bench(lambda: a @ b, return_mode="median") * 1e-9


def run(dtype_names):
    rows = []
    for dtype_name in dtype_names:
        for shape in SHAPES:
            batch, heads, n, head_dim = shape
            flops = 4 * batch * heads * n * n * head_dim
            for name, (attend, context) in methods().items():
                row = dict(dtype=dtype_name, shape=list(shape), method=name)
                if name == "flashsign":
                    row["form"] = "gram" if _takes_gram_form(n, head_dim) else "stream"
                try:
                    with context():
                        ms, peak = time_passes(attend, shape, DTYPES[dtype_name])
                    row.update(peak_mib=round(peak, 1), status="ok")
                    for p, factor in PASSES.items():
                        row[f"{p} ms"] = round(ms[p], 4)
                        row[f"{p} TFLOP/s"] = round(factor * flops / ms[p] * 1e-9, 1)
                except torch.cuda.OutOfMemoryError:
                    row["status"] = "out of memory"
                except RuntimeError as err:  # a backend that does not take this case
                    row["status"] = f"unavailable: {str(err).splitlines()[0][:80]}"
                torch.cuda.empty_cache()
                rows.append(row)
                print(json.dumps(row), flush=True)
    add_ratios(rows)
    add_napkin_predictions(rows)
    return rows


def add_napkin_predictions(rows):
    """The cost model's predicted forward time beside each fused kernel's measured one.

    ncd_layers sits above kernels; this command is an entry point, so it may reach up for the model."""
    from ncd_layers import predict_attention_time

    for row in rows:
        normaliser = "l2" if row["method"] == "flashsign stream" else "softmax" if row["method"].startswith("sdpa") else None
        if normaliser is not None:
            seconds = predict_attention_time(*row["shape"], normaliser=normaliser, bytes_per_element=2)
            row["napkin fwd ms"] = round(seconds * 1e3, 4)


def add_ratios(rows):
    """Each method's speed relative to the fastest SDPA backend at the same shape and dtype."""
    for row in rows:
        peers = [r for r in rows if r["shape"] == row["shape"] and r["dtype"] == row["dtype"]
                 and r["method"].startswith("sdpa") and r["status"] == "ok"]
        if row["status"] != "ok" or not peers:
            continue
        for p in PASSES:
            best = min(peers, key=lambda r: r[f"{p} ms"])
            row[f"{p} vs best sdpa"] = round(best[f"{p} ms"] / row[f"{p} ms"], 3)
            row[f"{p} best sdpa"] = best["method"].removeprefix("sdpa ")


def source_commit():
    """The source tree's commit: GIT_COMMIT when the tree travelled without .git, else git's answer."""
    if os.environ.get("GIT_COMMIT"):
        return os.environ["GIT_COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def environment(gemm):
    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        driver = "unknown"
    return {"device": torch.cuda.get_device_name(), "driver": driver, "torch": torch.__version__,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(), "triton": triton.__version__,
            "python": platform.python_version(), "commit": source_commit(), "command": " ".join(["python -m kernels.bench"] + sys.argv[1:]),
            "bf16 GEMM TFLOP/s (8192^3, measured)": round(gemm, 1)}


def done_criteria(rows):
    """The issue's targets, checked on the FlashSign rows: (criterion, measured, met)."""
    checks = []
    for row in (r for r in rows if r["method"] == "flashsign" and "fwd vs best sdpa" in r):
        shape, head_dim, n = tuple(row["shape"]), row["shape"][3], row["shape"][2]
        tag = f"{row['dtype']} {shape}"
        if head_dim in (64, 128):
            need = 1.25 if head_dim == 64 else 1.1
            checks.append((f"fwd >= {need}x {tag}", row["fwd vs best sdpa"], row["fwd vs best sdpa"] >= need))
        need = 1.2 if n == 1024 else 1.0
        checks.append((f"bwd >= {need}x {tag}", row["bwd vs best sdpa"], row["bwd vs best sdpa"] >= need))
        checks.append((f"fwd+bwd >= 1.1x {tag}", row["fwd+bwd vs best sdpa"], row["fwd+bwd vs best sdpa"] >= 1.1))
    return checks


def markdown(rows, env):
    lines = ["# FlashSign benchmark", "", "Produced by `kernels/bench.py`; do not edit by hand.", ""]
    lines += [f"- {key}: {value}" for key, value in env.items()]
    lines += [f"- shapes are (B, H, N, D); {GRN_SHAPE} is the GRN model's own (64 cells a batch, "
              "4 heads, 2048 genes, head dim 16)",
              "- TFLOP/s count 4*B*H*N^2*D forward, 2.5x backward; x = fastest SDPA backend's time / this "
              "method's time (above 1 = faster); peak = extra memory of one forward+backward",
              "- `flashsign` is the public function as dispatched (method=\"auto\"; the form it took in brackets); "
              "`flashsign stream` forces the O(N^2 D) streamed kernels (kernels/flashsign_triton.py), "
              "`flashsign gram` the O(N D^2) Gram-form kernels (kernels/flashsign_gram.py), the same function. "
              "Gram-form TFLOP/s are effective rates under the N^2 count, not work done",
              "- napkin fwd ms: the ncd_layers cost model's prediction for the streamed (O(N^2 D)) kernels", ""]
    header = ["dtype", "shape", "method"] + [f"{p} TFLOP/s (x)" for p in PASSES] + ["peak MiB", "fwd ms",
                                                                                     "napkin fwd ms"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        method = f"{r['method']} ({r['form']})" if "form" in r else r["method"]
        cells = [r["dtype"], str(tuple(r["shape"])), method]
        if r["status"] == "ok":
            cells += [f"{r[f'{p} TFLOP/s']} ({r.get(f'{p} vs best sdpa', '-')})" for p in PASSES]
            cells += [str(r["peak_mib"]), str(r["fwd ms"]), str(r.get("napkin fwd ms", "-"))]
        else:
            cells += [r["status"]] + [""] * (len(header) - 4)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## The issue's targets (FlashSign / fastest SDPA backend)", "",
              "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {name} | {value:.3f} | {'yes' if met else 'NO'} |" for name, value, met in done_criteria(rows)]
    return "\n".join(lines) + "\n"


def write_results(report: str, raw: dict, markdown_path=None, json_path=None):
    """The markdown report and the raw JSON, each written whole or not at all (temp file, then rename)."""
    for path, text in ((markdown_path, report), (json_path, json.dumps(raw, indent=1))):
        if path:
            partial = f"{path}.partial"
            with open(partial, "w") as f:
                f.write(text)
            os.replace(partial, path)


def log_table_to_wandb(job_type: str, rows, env, summary: dict | None = None):
    """One W&B run holding a benchmark's rows as a table named after `job_type`, plus summary values.
    Offline unless WANDB_MODE says otherwise, passed explicitly: wandb caches its settings per process."""
    try:
        import wandb
    except ImportError:
        print("wandb is not installed: results not logged to W&B")
        return
    columns = sorted({key for row in rows for key in row})
    run = wandb.init(project="flashsign-grn", job_type=job_type, config=env,
                     mode=os.environ.get("WANDB_MODE", "offline"))
    table = wandb.Table(columns=columns, data=[[str(r.get(c, "")) for c in columns] for r in rows])
    run.log({job_type.replace("-", "_"): table})
    run.summary.update(summary or {})
    run.finish()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    parser.add_argument("--markdown", help="write the results table here")
    parser.add_argument("--json", help="write the raw rows and environment here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("kernels.bench needs a CUDA GPU")

    env = environment(gemm_tflops())
    rows = run(args.dtypes)
    report = markdown(rows, env)
    print(report)
    write_results(report, {"environment": env, "rows": rows}, args.markdown, args.json)
    log_table_to_wandb("kernel-bench", rows, env)


if __name__ == "__main__":
    main()
