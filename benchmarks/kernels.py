"""Kernel throughput: FlashSign against naive torch spherical attention and every SDPA backend.

    python -m benchmarks.kernels [--dtypes bf16 fp16] [--markdown results/kernels/BENCHMARKS.md]
                                 [--json results/kernels/benchmarks.json]

All methods run in one process on one GPU, forward, backward and forward+backward, on fresh random
inputs per method, timed two ways, each after an L2 flush:
- eager: triton.testing.do_bench (median) on plain calls, as a training step makes them, so a
  method's host-side cost (Python, launches, autograd) counts wherever it exceeds its GPU time;
  each method's fastest of three rounds that take every method in turn, since slow spells of the
  host only ever add time (every round's time is kept in the JSON);
- GPU time: the same calls replayed as one CUDA graph, which takes the host out for every method.
Attention FLOPs are 4*B*H*N^2*D forward and 2.5x that backward. Ratios are the fastest SoftMax
backend's time over each method's time (above 1 = faster). The ceiling is a measured bf16 8192^3
matrix product. Results go to W&B (offline unless WANDB_MODE says otherwise; skipped if wandb is
absent).
"""
import argparse
import contextlib
import functools
import itertools
import json
import platform
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as F
import triton
from torch.nn.attention import SDPBackend, sdpa_kernel

from benchmarks.results import log_table_to_wandb, source_commit, write_results
from kernels import replay
from kernels.flashsign_api import auto_method, flashsign
from kernels.reference import spherical_attention_reference
from ncd_layers import predict_attention_time

# (B, H, N, D). The last is the GRN model's own: 64 cells a batch, 4 heads, 2048 genes, head dim 16.
SHAPES = [(4, 16, 1024, 64), (4, 16, 4096, 64), (2, 16, 8192, 64), (4, 16, 4096, 128),
          (1, 16, 16384, 128), (64, 4, 2048, 16)]
GRN_SHAPE = (64, 4, 2048, 16)
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
SDPA_BACKENDS = ["FLASH_ATTENTION", "CUDNN_ATTENTION", "EFFICIENT_ATTENTION"]
PASSES = {"fwd": 1.0, "bwd": 2.5, "fwd+bwd": 3.5}  # FLOPs as multiples of 4*B*H*N^2*D
TIMINGS = {"": "Eager", " gpu": "GPU time"}  # key suffix of each timing -> its name in the report
_FLUSH_BYTES = 256 * 2**20  # as do_bench: more than an H100's or H200's L2
# Eager timings: each method's fastest of rounds that take every method in turn. The shared GPU
# machine's host has slow spells lasting seconds, and they only ever add time (results/kernels/TUNING.md).
EAGER_ROUNDS = 3
EAGER_WINDOW_MS = 40


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


def make_inputs(shape, dtype):
    """Fresh q, k, v (requiring grad) and an output gradient."""
    q, k, v = (torch.randn(shape, device="cuda", dtype=dtype, requires_grad=True) for _ in range(3))
    return [q, k, v], torch.randn(shape, device="cuda", dtype=dtype)


def gpu_passes(attend, inputs, grad_out):
    """GPU milliseconds of each pass ("fwd gpu", ...; empty where a graph does not fit in memory) and
    the peak extra memory (MiB) of one forward+backward."""
    def fwd_bwd():
        attend(*inputs).backward(grad_out)

    fwd_bwd()  # compile and let SDPA pick its kernels outside the timings
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fwd_bwd()
    torch.cuda.synchronize()
    peak_mib = (torch.cuda.max_memory_allocated() - base) / 2**20
    for x in inputs:
        x.grad = None
    try:  # all three or none: a graph holds `reps` calls' memory
        with torch.cuda.stream(capture_stream()):
            out = attend(*inputs)  # a backward runs on its forward's stream, so this one can be captured
        return {"fwd gpu": graph_ms(lambda: attend(*inputs)),
                "bwd gpu": graph_ms(lambda: torch.autograd.grad(out, inputs, grad_out, retain_graph=True)),
                "fwd+bwd gpu": graph_ms(lambda: torch.autograd.grad(attend(*inputs), inputs, grad_out))}, peak_mib
    except (torch.cuda.OutOfMemoryError, RuntimeError) as err:
        print(f"no GPU-time timing for this case: {str(err).splitlines()[0][:120]}", flush=True)
        return {}, peak_mib


def eager_passes(attend, inputs, grad_out):
    """Median eager milliseconds of each pass over one do_bench window ("fwd", "bwd", "fwd+bwd")."""
    def bench(call):
        return triton.testing.do_bench(call, rep=EAGER_WINDOW_MS, grad_to_none=inputs, return_mode="median")

    ms = {"fwd": bench(lambda: attend(*inputs))}
    out = attend(*inputs)
    ms["bwd"] = bench(lambda: out.backward(grad_out, retain_graph=True))
    del out
    ms["fwd+bwd"] = bench(lambda: attend(*inputs).backward(grad_out))
    return ms


@functools.cache
def _side_stream():
    return torch.cuda.Stream()


def capture_stream():
    """The side stream every CUDA graph here is captured on, ordered after the current stream's work."""
    stream = _side_stream()
    stream.wait_stream(torch.cuda.current_stream())
    return stream


def graph_ms(call, reps=10):
    """GPU milliseconds per call without the host: `reps` calls, each after an L2 flush, replayed
    as one CUDA graph (median of 7 replays), less the same graph of flushes alone."""
    flush = torch.empty(_FLUSH_BYTES, dtype=torch.int8, device="cuda")

    def replay_ms(body):
        stream = capture_stream()
        with torch.cuda.stream(stream):
            body()  # lazy initialisation stays out of the capture
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream):
            for _ in range(reps):
                body()
        torch.cuda.current_stream().wait_stream(stream)
        times = []
        for _ in range(7):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            graph.replay()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        del graph
        return statistics.median(times)

    with_calls = replay_ms(lambda: (flush.zero_(), call()))
    flushes = replay_ms(flush.zero_)
    torch.cuda.empty_cache()
    return (with_calls - flushes) / reps


def gemm_tflops():
    a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    return 2 * 8192**3 / triton.testing.do_bench(lambda: a @ b, return_mode="median") * 1e-9


def parse_shape(text):
    """"B,H,N,D" -> (B, H, N, D), for --shapes."""
    try:
        shape = tuple(int(x) for x in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 4 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"a shape is four positive integers B,H,N,D, got {text!r}")
    return shape


def run(dtype_names, shapes=SHAPES):
    rows = []
    for dtype_name, shape in itertools.product(dtype_names, shapes):
        rows += time_shape(shape, dtype_name)
    add_ratios(rows)
    add_napkin_predictions(rows)
    return rows


def time_shape(shape, dtype_name):
    """Every method's row at one shape and dtype: GPU time and memory method by method, then the
    eager rounds."""
    batch, heads, n, head_dim = shape
    flops = 4 * batch * heads * n * n * head_dim
    rows, timed = [], []  # timed: (row, attend, context, inputs, grad_out, ms, eager rounds)
    for name, (attend, context) in methods().items():
        row = dict(dtype=dtype_name, shape=list(shape), method=name)
        if name == "flashsign":
            row["form"] = auto_method(n, head_dim, with_backward=True)  # inputs require grad
        try:
            inputs, grad_out = make_inputs(shape, DTYPES[dtype_name])
            with context():
                ms, peak = gpu_passes(attend, inputs, grad_out)
                rounds = [eager_passes(attend, inputs, grad_out)]
            row.update(peak_mib=round(peak, 1), status="ok")
            timed.append((row, attend, context, inputs, grad_out, ms, rounds))
        except torch.cuda.OutOfMemoryError:
            row["status"] = "out of memory"
        except RuntimeError as err:  # a backend that does not take this case
            row["status"] = f"unavailable: {str(err).splitlines()[0][:80]}"
        torch.cuda.empty_cache()
        rows.append(row)
    for _ in range(EAGER_ROUNDS - 1):
        for row, attend, context, inputs, grad_out, ms, rounds in timed:
            with context():
                rounds.append(eager_passes(attend, inputs, grad_out))
    for row, attend, context, inputs, grad_out, ms, rounds in timed:
        ms.update({p: min(r[p] for r in rounds) for p in PASSES})
        row["eager rounds ms"] = {p: [round(r[p], 4) for r in rounds] for p in PASSES}
        for (p, factor), timing in itertools.product(PASSES.items(), TIMINGS):
            if p + timing in ms:
                row[f"{p}{timing} ms"] = round(ms[p + timing], 4)
                row[f"{p}{timing} TFLOP/s"] = round(factor * flops / ms[p + timing] * 1e-9, 1)
    for row in rows:
        print(json.dumps(row), flush=True)
    return rows


def add_napkin_predictions(rows):
    """The cost model's predicted forward time beside each fused kernel's measured one."""
    for row in rows:
        normaliser = "l2" if row["method"] == "flashsign stream" else "softmax" if row["method"].startswith("sdpa") else None
        if normaliser is not None:
            seconds = predict_attention_time(*row["shape"], normaliser=normaliser, bytes_per_element=2)
            row["napkin fwd ms"] = round(seconds * 1e3, 4)


def add_ratios(rows):
    """Each method's speed relative to the fastest SDPA backend at the same shape, dtype and timing.
    No ratio where a backend that ran lacks that timing: it might have been the fastest."""
    for row in rows:
        for p, timing in itertools.product(PASSES, TIMINGS):
            key = f"{p}{timing} ms"
            peers = [r for r in rows if r["shape"] == row["shape"] and r["dtype"] == row["dtype"]
                     and r["method"].startswith("sdpa") and r["status"] == "ok"]
            if key not in row or not peers or any(key not in r for r in peers):
                continue
            best = min(peers, key=lambda r: r[key])
            row[f"{p}{timing} vs best sdpa"] = round(best[key] / row[key], 3)
            row[f"{p}{timing} best sdpa"] = best["method"].removeprefix("sdpa ")


def environment(gemm):
    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        driver = "unknown"
    return {"device": torch.cuda.get_device_name(), "driver": driver, "torch": torch.__version__,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(), "triton": triton.__version__,
            "python": platform.python_version(), "commit": source_commit(), "command": " ".join(["python -m benchmarks.kernels"] + sys.argv[1:]),
            "bf16 GEMM TFLOP/s (8192^3, measured)": round(gemm, 1),
            "flashsign launches": "replayed from C++ after a case's first call (kernels/replay.py)"
                                  if replay.available() else "from Python (the C++ replay did not load)"}


def done_criteria(rows):
    """The issue's targets on the FlashSign rows: (criterion, {timing name: measured ratio or None})."""
    checks = []
    for row in (r for r in rows if r["method"] == "flashsign"):
        shape, head_dim, n = tuple(row["shape"]), row["shape"][3], row["shape"][2]
        needs = {"bwd": 1.2 if n == 1024 else 1.0, "fwd+bwd": 1.1}
        if head_dim in (64, 128):
            needs = {"fwd": 1.25 if head_dim == 64 else 1.1, **needs}
        for p, need in needs.items():
            measured = {name: row.get(f"{p}{timing} vs best sdpa") for timing, name in TIMINGS.items()}
            checks.append((f"{p} >= {need}x {row['dtype']} {shape}", need, measured))
    return checks


def markdown(rows, env):
    lines = ["# FlashSign benchmark", "", "Produced by `benchmarks/kernels.py`; do not edit by hand.", ""]
    lines += [f"- {key}: {value}" for key, value in env.items()]
    lines += [f"- shapes are (B, H, N, D); {GRN_SHAPE} is the GRN model's own (64 cells a batch, "
              "4 heads, 2048 genes, head dim 16)",
              "- TFLOP/s count 4*B*H*N^2*D forward, 2.5x backward; x = fastest SDPA backend's time / this "
              "method's time (above 1 = faster); peak = extra memory of one forward+backward",
              "- `flashsign` is the public function as dispatched (method=\"auto\"; the form it took in brackets); "
              "`flashsign stream` forces the O(N^2 D) streamed kernels (kernels/flashsign_stream.py), "
              "`flashsign gram` the O(N D^2) Gram-form kernels (kernels/flashsign_gram.py), the same function. "
              "Gram-form TFLOP/s are effective rates under the N^2 count, not work done",
              "- napkin fwd ms: the ncd_layers cost model's prediction for the streamed (O(N^2 D)) kernels",
              "- eager: plain calls timed by triton.testing.do_bench, host cost (Python, launches, autograd) "
              f"included where it exceeds GPU time; the fastest of {EAGER_ROUNDS} rounds (each the median of a "
              f"{EAGER_WINDOW_MS} ms window) that take every method in turn; GPU time: the same calls replayed as one CUDA graph, host "
              "excluded for every method. Both flush L2 before each call", ""]
    for timing, name in TIMINGS.items():
        lines += [f"## {name}", ""] + _timing_table(rows, timing) + [""]
    lines += ["## The issue's targets (FlashSign / fastest SDPA backend)", "",
              "| target | " + " | ".join(TIMINGS.values()) + " |", "|---|" + "---|" * len(TIMINGS)]
    for target, need, measured in done_criteria(rows):
        cells = ["not measured (NO)" if x is None else f"{x:.3f} ({'met' if x >= need else 'NO'})"
                 for x in measured.values()]
        lines.append(f"| {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _timing_table(rows, timing):
    """One markdown table of every row under one timing (a TIMINGS key)."""
    header = ["dtype", "shape", "method"] + [f"{p} TFLOP/s (x)" for p in PASSES] + ["peak MiB", "fwd ms",
                                                                                     "napkin fwd ms"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        method = f"{r['method']} ({r['form']})" if "form" in r else r["method"]
        cells = [r["dtype"], str(tuple(r["shape"])), method]
        if r["status"] == "ok" and f"fwd{timing} ms" in r:
            cells += [f"{r[f'{p}{timing} TFLOP/s']} ({r.get(f'{p}{timing} vs best sdpa', '-')})" for p in PASSES]
            cells += [str(r["peak_mib"]), str(r[f"fwd{timing} ms"]), str(r.get("napkin fwd ms", "-"))]
        else:
            status = r["status"] if r["status"] != "ok" else "not timed"
            cells += [status] + [""] * (len(header) - 4)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    parser.add_argument("--shapes", nargs="+", type=parse_shape, default=SHAPES, metavar="B,H,N,D",
                        help="shapes to time (default: the issue's five and the GRN model's)")
    parser.add_argument("--markdown", help="write the results table here")
    parser.add_argument("--json", help="write the raw rows and environment here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("benchmarks.kernels needs a CUDA GPU")

    env = environment(gemm_tflops())
    rows = run(args.dtypes, args.shapes)
    report = markdown(rows, env)
    print(report)
    write_results(report, {"environment": env, "rows": rows}, args.markdown, args.json)
    log_table_to_wandb("kernel-bench", rows, env)


if __name__ == "__main__":
    main()
