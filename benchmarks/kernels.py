"""Kernel throughput: FlashSign against the memory roofline, the same Gram identity in plain torch
(eager and compiled), naive torch spherical attention and every SDPA backend.

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
backend's time over each method's time (above 1 = faster), and likewise against the plain-torch Gram
identity. The compute ceiling is a measured bf16 8192^3 matrix product. The Gram form is memory-bound,
so each method's achieved bandwidth counts the bytes the function must move (forward: read Q, K, V,
write O; backward: read Q, K, V, O, dO, write dQ, dK, dV), and its share of the roofline divides that
by a large device-to-device copy's bandwidth measured in the same run (bytes read plus written).
Methods of O(N^2 D) work can be left out beyond --quadratic-max-keys. Results go to W&B (offline
unless WANDB_MODE says otherwise; skipped if wandb is absent).
"""
import argparse
import contextlib
import copy
import functools
import itertools
import json
import math
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
from kernels.gram import spherical_attention_gram
from kernels.reference import spherical_attention_reference
from ncd_layers import predict_attention_time

# (B, H, N, D). (64, 4, 2048, 16) is the GRN model's own: 64 cells a batch, 4 heads, 2048 genes, head
# dim 16; the last three are long sequences with small heads, where the GRN model grows.
SHAPES = [(4, 16, 1024, 64), (4, 16, 4096, 64), (2, 16, 8192, 64), (4, 16, 4096, 128),
          (1, 16, 16384, 128), (64, 4, 2048, 16), (8, 4, 16384, 16), (1, 32, 65536, 64), (2, 4, 32768, 32)]
GRN_SHAPE = (64, 4, 2048, 16)
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
SDPA_BACKENDS = ["FLASH_ATTENTION", "CUDNN_ATTENTION", "EFFICIENT_ATTENTION"]
PASSES = {"fwd": 1.0, "bwd": 2.5, "fwd+bwd": 3.5}  # FLOPs as multiples of 4*B*H*N^2*D
# The (B, H, N, D) tensors each pass must read or write at least once (the roofline's bytes).
TENSORS_MOVED = {"fwd": 4, "bwd": 8, "fwd+bwd": 12}
# Methods whose work grows as N^2: --quadratic-max-keys leaves them out beyond it.
QUADRATIC = ("flashsign stream", "torch spherical", "sdpa ")
# The plain-torch Gram identity, the Gram form's honest peer, eager and under torch.compile.
TORCH_GRAM_PEERS = ("torch gram", "torch gram compiled")
TIMINGS = {"": "Eager", " gpu": "GPU time"}  # key suffix of each timing -> its name in the report
_FLUSH_BYTES = 256 * 2**20  # as do_bench: more than an H100's or H200's L2
_COPY_BYTES = 2**31  # the bandwidth reference: a copy of this many bytes, far beyond L2
# Eager timings: each method's fastest of rounds that take every method in turn. The shared GPU
# machine's host has slow spells lasting seconds, and they only ever add time (results/kernels/TUNING.md).
EAGER_ROUNDS = 3
EAGER_WINDOW_MS = 40


def methods():
    """name -> (attention function, context it runs in)."""
    table = {"flashsign": (flashsign, contextlib.nullcontext),
             "flashsign stream": (lambda q, k, v: flashsign(q, k, v, method="stream"), contextlib.nullcontext),
             "flashsign gram": (lambda q, k, v: flashsign(q, k, v, method="gram"), contextlib.nullcontext),
             "torch spherical": (spherical_attention_reference, contextlib.nullcontext),
             "torch gram": (spherical_attention_gram, contextlib.nullcontext),
             "torch gram compiled": (_compiled_gram(), _keep_saved_buffers)}
    for backend in SDPA_BACKENDS:
        table[f"sdpa {backend}"] = (F.scaled_dot_product_attention,
                                    lambda b=backend: sdpa_kernel([getattr(SDPBackend, b)]))
    return table


@functools.cache
def _compiled_gram():
    """One torch.compile of the plain-torch Gram identity for the whole run, as a user would compile it
    (default mode; after its first shape Dynamo recompiles it once with dynamic shapes)."""
    return torch.compile(spherical_attention_gram)


def _keep_saved_buffers():
    """Compiled backwards free ("donate") their saved tensors by default, and then refuse the
    retain_graph=True that timing a backward alone needs (on CUDA)."""
    return torch._functorch.config.patch(donated_buffer=False)


def is_quadratic(method):
    return method.startswith(QUADRATIC)


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


def measure_copy_tbps():
    """TB/s of a large device-to-device copy, bytes read plus written (median of do_bench)."""
    source = torch.randn(_COPY_BYTES // 4, device="cuda")
    target = torch.empty_like(source)
    ms = triton.testing.do_bench(lambda: target.copy_(source), return_mode="median")
    return 2 * _COPY_BYTES / (ms * 1e-3) * 1e-12


def launch_replayed(attend, inputs):
    """Whether a call that autograd records runs on the C++ launch replay (its autograd node is C++)."""
    return "Replayed" in attend(*inputs).grad_fn.name()


def parse_shape(text):
    """"B,H,N,D" -> (B, H, N, D), for --shapes."""
    try:
        shape = tuple(int(x) for x in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 4 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"a shape is four positive integers B,H,N,D, got {text!r}")
    return shape


def run(dtype_names, shapes, quadratic_max_keys=None, after_shape=None):
    """Every method's measured rows; `after_shape(rows so far)` is called as each shape is done."""
    rows = []
    for dtype_name, shape in itertools.product(dtype_names, shapes):
        rows += time_shape(shape, dtype_name, quadratic_max_keys)
        if after_shape is not None:
            after_shape(rows)
    return rows


def derive(rows, copy_tbps):
    """A copy of measured rows with the ratios, bandwidths, roofline shares and napkin predictions added."""
    rows = copy.deepcopy(rows)
    add_ratios(rows)
    add_bandwidth(rows, copy_tbps)
    add_napkin_predictions(rows)
    return rows


def time_shape(shape, dtype_name, quadratic_max_keys=None):
    """Every method's row at one shape and dtype: GPU time and memory method by method, then the
    eager rounds."""
    batch, heads, n, head_dim = shape
    flops = 4 * batch * heads * n * n * head_dim
    rows, timed = [], []  # timed: (row, attend, context, inputs, grad_out, ms, eager rounds)
    for name, (attend, context) in methods().items():
        row = dict(dtype=dtype_name, shape=list(shape), method=name)
        if name == "flashsign":
            row["form"] = auto_method(n, head_dim, with_backward=True)  # inputs require grad
        if quadratic_max_keys is not None and n > quadratic_max_keys and is_quadratic(name):
            row["status"] = f"skipped: O(N^2) work beyond {quadratic_max_keys} keys"
            rows.append(row)
            continue
        try:
            inputs, grad_out = make_inputs(shape, DTYPES[dtype_name])
            with context():
                ms, peak = gpu_passes(attend, inputs, grad_out)
                rounds = [eager_passes(attend, inputs, grad_out)]
            row.update(peak_mib=round(peak, 1), status="ok")
            if name.startswith("flashsign"):
                row["launch replay"] = launch_replayed(attend, inputs)
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
    """Each method's speed relative to the fastest SDPA backend, and to each plain-torch Gram peer, at
    the same shape, dtype and timing. No ratio to SDPA where a backend that ran lacks that timing: it
    might have been the fastest."""
    for row in rows:
        for p, timing in itertools.product(PASSES, TIMINGS):
            key = f"{p}{timing} ms"
            if key not in row:
                continue
            ran = [r for r in rows if r["shape"] == row["shape"] and r["dtype"] == row["dtype"] and r["status"] == "ok"]
            for peer in (r for r in ran if r["method"] in TORCH_GRAM_PEERS and key in r):
                row[f"{p}{timing} vs {peer['method']}"] = round(peer[key] / row[key], 3)
            sdpa = [r for r in ran if r["method"].startswith("sdpa")]
            if not sdpa or any(key not in r for r in sdpa):
                continue
            best = min(sdpa, key=lambda r: r[key])
            row[f"{p}{timing} vs best sdpa"] = round(best[key] / row[key], 3)
            row[f"{p}{timing} best sdpa"] = best["method"].removeprefix("sdpa ")


def roofline_ms(shape, dtype_name, copy_tbps):
    """Pass -> the milliseconds its bytes take at the copy bandwidth: the time no method can beat."""
    return {p: TENSORS_MOVED[p] * math.prod(shape) * DTYPES[dtype_name].itemsize / (copy_tbps * 1e12) * 1e3
            for p in PASSES}


def add_bandwidth(rows, copy_tbps):
    """Each row's roofline times, and each timed pass's achieved bandwidth (the bytes it must move over
    its time, TB/s) and share of the roofline (that over the measured copy's TB/s)."""
    for row in rows:
        floor = roofline_ms(row["shape"], row["dtype"], copy_tbps)
        row["roofline ms"] = {p: round(ms, 4) for p, ms in floor.items()}
        for p, timing in itertools.product(PASSES, TIMINGS):
            if f"{p}{timing} ms" in row:
                share = floor[p] / row[f"{p}{timing} ms"]
                row[f"{p}{timing} TB/s"] = round(share * copy_tbps, 3)
                row[f"{p}{timing} roofline share"] = round(share, 3)


def environment(gemm, copy_tbps):
    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        driver = "unknown"
    return {"device": torch.cuda.get_device_name(), "driver": driver, "torch": torch.__version__,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(), "triton": triton.__version__,
            "python": platform.python_version(), "commit": source_commit(), "command": " ".join(["python -m benchmarks.kernels"] + sys.argv[1:]),
            "bf16 GEMM TFLOP/s (8192^3, measured)": round(gemm, 1),
            "copy TB/s (measured)": round(copy_tbps, 3),
            "flashsign launches": "replayed from C++ after a case's first call (kernels/replay.py)"
                                  if replay.available() else "from Python (the C++ replay did not load)"}


def done_criteria(rows):
    """The first kernel issue's targets on the FlashSign rows: (criterion, need, {timing name: measured
    ratio or None})."""
    checks = []
    for row in (r for r in rows if r["method"] == "flashsign"):
        shape, head_dim, n = tuple(row["shape"]), row["shape"][3], row["shape"][2]
        needs = {"bwd": 1.2 if n == 1024 else 1.0, "fwd+bwd": 1.1}
        if head_dim in (64, 128):
            needs = {"fwd": 1.25 if head_dim == 64 else 1.1, **needs}
        for p, need in needs.items():
            checks.append((f"{p} >= {need}x {row['dtype']} {shape}", need, _per_timing(row, p, "vs best sdpa")))
    return checks


# Issue 21's targets: FlashSign's share of the measured-copy roofline at long sequences, its speed over
# the plain-torch Gram identity, and its eager speed over the fastest SDPA backend at 1024 keys.
ROOFLINE_SHAPES = [(2, 16, 8192, 64), (1, 16, 16384, 128), (8, 4, 16384, 16), (1, 32, 65536, 64)]
ROOFLINE_SHARE_NEEDED = {"fwd": 0.7, "fwd+bwd": 0.6}
TORCH_GRAM_SHAPES = [(4, 16, 1024, 64), (2, 16, 8192, 64), (1, 16, 16384, 128), (64, 4, 2048, 16),
                     (8, 4, 16384, 16), (1, 32, 65536, 64)]
TORCH_GRAM_SPEEDUP_NEEDED = 3.0
EAGER_SHAPE, EAGER_SPEEDUP_NEEDED = (4, 16, 1024, 64), 1.2


def roofline_criteria(rows):
    """Issue 21's targets on the FlashSign rows, as done_criteria gives them; a timing that a target
    does not judge is left out of its measurements."""
    checks = []
    for row in (r for r in rows if r["method"] == "flashsign"):
        shape, dtype = tuple(row["shape"]), row["dtype"]
        if shape in ROOFLINE_SHAPES:
            for p, need in ROOFLINE_SHARE_NEEDED.items():
                checks.append((f"{p} >= {need:.0%} of the roofline {dtype} {shape}", need,
                               _per_timing(row, p, "roofline share")))
        if shape in TORCH_GRAM_SHAPES:
            need = TORCH_GRAM_SPEEDUP_NEEDED
            checks.append((f"fwd+bwd >= {need}x torch gram {dtype} {shape}", need,
                           _per_timing(row, "fwd+bwd", "vs torch gram")))
        if shape == EAGER_SHAPE:
            for p in PASSES:
                checks.append((f"{p} eager >= {EAGER_SPEEDUP_NEEDED}x best sdpa {dtype} {shape}", EAGER_SPEEDUP_NEEDED,
                               {TIMINGS[""]: row.get(f"{p} vs best sdpa")}))
    return checks


def _per_timing(row, p, measure):
    """{timing name: row's `measure` of pass `p` under that timing, or None}."""
    return {name: row.get(f"{p}{timing} {measure}") for timing, name in TIMINGS.items()}


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
              "excluded for every method. Both flush L2 before each call",
              "- `torch gram` is the same Gram identity in plain torch (kernels/gram.py: fp32 K^T K and K^T V by cuBLAS, "
              "autograd for the backward), `torch gram compiled` the same under torch.compile",
              "- roofline: the bytes a pass must move (forward reads Q, K, V and writes O; backward reads Q, K, V, O, dO "
              "and writes dQ, dK, dV; fwd+bwd both) at the measured copy bandwidth; TB/s = those bytes over the "
              "method's time; share = roofline time / method's time", ""]
    for timing, name in TIMINGS.items():
        lines += [f"## {name}", ""] + _timing_table(rows, timing) + [""]
    for timing, name in TIMINGS.items():
        lines += [f"## Against the memory roofline: {name}", ""] + _roofline_table(rows, timing) + [""]
    lines += ["## The issue's targets (FlashSign / fastest SDPA backend)", ""] + _targets_table(done_criteria(rows))
    lines += ["", "## Issue 21's targets (roofline share, x plain-torch Gram, eager x fastest SDPA)", ""]
    lines += _targets_table(roofline_criteria(rows))
    return "\n".join(lines) + "\n"


def _targets_table(criteria):
    """One markdown row per target: each timing's measurement, met or not ('-' where not judged)."""
    lines = ["| target | " + " | ".join(TIMINGS.values()) + " |", "|---|" + "---|" * len(TIMINGS)]
    for target, need, measured in criteria:
        cells = ["-" if name not in measured else "not measured (NO)" if measured[name] is None
                 else f"{measured[name]:.3f} ({'met' if measured[name] >= need else 'NO'})" for name in TIMINGS.values()]
        lines.append(f"| {target} | " + " | ".join(cells) + " |")
    return lines


def _roofline_table(rows, timing):
    """Every row's times, achieved bandwidth and share of the roofline under one timing (a TIMINGS key),
    fwd / bwd / fwd+bwd in each cell."""
    header = ["dtype", "shape", "method", "launch replay", "ms", "roofline ms", "TB/s", "share of roofline",
              "x torch gram", "x torch gram compiled"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        method = f"{r['method']} ({r['form']})" if "form" in r else r["method"]
        cells = [r["dtype"], str(tuple(r["shape"])), method, {True: "yes", False: "NO"}.get(r.get("launch replay"), "-")]
        if r["status"] == "ok" and f"fwd{timing} ms" in r:
            cells += [" / ".join(str(r.get("roofline ms", {}).get(p, "-")) if measure is None
                                 else str(r.get(f"{p}{timing} {measure}", "-")) for p in PASSES)
                      for measure in ("ms", None, "TB/s", "roofline share", "vs torch gram", "vs torch gram compiled")]
        else:
            status = r["status"] if r["status"] != "ok" else "not timed"
            cells += [status] + [""] * (len(header) - 5)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


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
                        help="shapes to time, in this order (default: the kernel issues' shapes and the GRN model's)")
    parser.add_argument("--quadratic-max-keys", type=int, metavar="N",
                        help="leave out methods of O(N^2) work beyond N keys (default: time every method)")
    parser.add_argument("--markdown", help="write the results table here (after each shape, then whole)")
    parser.add_argument("--json", help="write the raw rows and environment here (likewise)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("benchmarks.kernels needs a CUDA GPU")

    copy_tbps = measure_copy_tbps()
    env = environment(gemm_tflops(), copy_tbps)

    def publish(measured):
        """The report and raw rows of every shape done so far, so a run cut short still leaves both."""
        rows = derive(measured, copy_tbps)
        report = markdown(rows, env)
        write_results(report, {"environment": env, "rows": rows}, args.markdown, args.json)
        return rows, report

    rows, report = publish(run(args.dtypes, args.shapes, args.quadratic_max_keys, after_shape=publish))
    print(report)
    log_table_to_wandb("kernel-bench", rows, env)


if __name__ == "__main__":
    main()
