"""Training throughput at whole-transcriptome scale: spherical attention (FlashSign) against SoftMax
attention under each SDPA backend, the GRN transformer otherwise identical.

    python -m benchmarks.train_step [--genes 2048 8192 16384] [--steps 10]
                                    [--markdown results/train_step/train_step.md]
                                    [--json results/train_step/train_step.json]

For each gene count N (tokens per cell) every method trains the same model (same initial weights)
for a fixed number of steps: masked expression modelling on random cells, AdamW, bf16 autocast as
`trainer=gpu` runs it, a batch of max(1, tokens_per_batch // N) cells; on a GPU each method runs twice, its steps
issued eagerly and as one CUDA graph replay a step. Reported: cells/s, tokens/s, attention TFLOP/s
(4*B*H*N^2*D forward, 2.5x that backward, per layer), peak memory, and for eager steps on a GPU one step's time
by part (attention, matmuls, norms, optimizer, other kernels; host) from the torch profiler. Then it
times the cell-averaged attention map (grn.readout.attention_maps, the pipeline's own read-out) of a
bf16 spherical model over many cells. Only torch, grn.model, grn.readout and kernels are needed, so it
runs on a bare GPU machine; results go to W&B (offline unless WANDB_MODE says otherwise) if wandb imports.
"""
import argparse
import contextlib
import gc
import itertools
import json
import platform
import sys
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from benchmarks.results import log_table_to_wandb, source_commit, write_results
from grn.model import GRNTransformer
from grn.model.throughput import FWD_BWD
from grn.readout import attention_maps

SDPA_BACKENDS = ("FLASH_ATTENTION", "CUDNN_ATTENTION", "EFFICIENT_ATTENTION", "MATH")
# Kernel-name fragments of each part of a step, for the profiler's breakdown (the first part that matches
# wins; kernels matching none count as "other": embeddings, elementwise maps, the loss).
PARTS = {"attention": ("_gram_kernel", "_rows_kernel", "_one_pass_", "_fwd_kernel", "_bwd_dkdv_kernel", "_bwd_dq_kernel",
                       "delta_kernel", "sum_chunks_kernel", "fmha", "flash", "cudnn", "attention", "softmax"),
         "optimizer": ("adam", "multi_tensor", "foreach"),
         "norms": ("layer_norm", "layernorm", "norm_"),
         "matmuls": ("gemm", "cutlass", "xmma", "nvjet", "gemv", "splitk")}
# Spherical cells/s over the best SoftMax's, each at its fastest way of issuing steps (genes -> ratio; issue 21),
# and the earlier issues' targets.
SPEEDUPS = {2048: 1.5, 8192: 1.3, 16384: 3.0}
TARGETS = {"largest_genes": 16384, "largest_batch": 8, "map_seconds": 60.0}


def methods():
    """name -> (normaliser, context the training steps run in)."""
    table = {"spherical (FlashSign)": ("l2", contextlib.nullcontext)}
    for backend in SDPA_BACKENDS:
        table[f"softmax sdpa {backend}"] = ("softmax", lambda b=backend: sdpa_kernel([getattr(SDPBackend, b)]))
    return table


def build_model(n_genes, normaliser, width, heads, depth, device, seed=0):
    """The same initial weights for every normaliser: the diagrams differ only in the normalise box."""
    torch.manual_seed(seed)
    return GRNTransformer(n_genes, width=width, heads=heads, depth=depth, normaliser=normaliser).to(device)


def random_cells(cells, n_genes, device, generator, dtype=torch.float32):
    """A batch of cells showing every gene: (gene ids, standardised values, hidden), a quarter hidden."""
    gene_ids = torch.arange(n_genes, device=device).expand(cells, n_genes)
    values = torch.randn(cells, n_genes, device=device, generator=generator).to(dtype)
    hidden = torch.rand(cells, n_genes, device=device, generator=generator) < 0.25
    return gene_ids, values, hidden


def attention_flops_per_step(cells, n_genes, width, depth):
    return FWD_BWD * 4 * cells * n_genes**2 * width * depth


def train(model, optimizer, batches, steps, device):
    """`steps` steps of masked expression modelling, cycling over `batches`."""
    for index in range(steps):
        train_step(model, optimizer, batches[index % len(batches)], device)
        optimizer.zero_grad(set_to_none=True)


def train_step(model, optimizer, batch, device, cache_enabled=True):
    """Forward, the hidden genes' loss, backward and the optimizer's step on one batch."""
    gene_ids, values, hidden = batch
    with torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache_enabled):
        predicted = model(gene_ids, values, hidden)
    # The hidden genes' mean squared error, as a masked mean: indexing by a mask would wait on the GPU.
    loss = ((predicted.float() - values) ** 2 * hidden).sum() / hidden.sum()
    loss.backward()
    optimizer.step()


def captured_training(model, optimizer, batches, device):
    """A function like `train` (steps -> None) whose steps each replay one CUDA graph of the whole step
    (forward, loss, backward, AdamW) after copying the step's batch into the graph's input tensors: the host
    issues one launch a step instead of hundreds. Shapes are static, as in training at a fixed gene count.
    The optimizer must be capturable."""
    static = [tensor.clone() for tensor in batches[0]]
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):  # warm-up on a side stream, as capture requires
        for _ in range(3):
            train_step(model, optimizer, static, device, cache_enabled=False)
            optimizer.zero_grad(set_to_none=True)
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):  # autocast's cast cache would outlive the capture: off
        train_step(model, optimizer, static, device, cache_enabled=False)

    def replay(steps):
        for index in range(steps):
            for target, source in zip(static, batches[index % len(batches)]):
                target.copy_(source)
            graph.replay()

    return replay


def time_training(normaliser, context, n_genes, cells, args, device, captured=False):
    """One method at one size, each step eager or (`captured`) one CUDA graph replay: cells/s, tokens/s,
    attention TFLOP/s, peak memory, and for eager steps the step's breakdown by part."""
    model = build_model(n_genes, normaliser, args.width, args.heads, args.depth, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, capturable=captured)
    generator = torch.Generator(device).manual_seed(1)
    batches = [random_cells(cells, n_genes, device, generator) for _ in range(2)]
    with context():
        steps = (captured_training(model, optimizer, batches, device) if captured
                 else lambda count: train(model, optimizer, batches, count, device))
        steps(args.warmup)  # kernel choice, autotuning, optimizer state
        _synchronise(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        steps(args.steps)
        _synchronise(device)
        seconds = (time.perf_counter() - start) / args.steps
    row = {"cells_per_s": cells / seconds, "tokens_per_s": cells * n_genes / seconds, "step_ms": seconds * 1e3,
           "attention_tflops": attention_flops_per_step(cells, n_genes, args.width, args.depth) / seconds * 1e-12}
    if device.type == "cuda":
        row["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        if not captured:
            with context():
                row["breakdown_ms"] = step_breakdown(model, optimizer, batches, device, row["step_ms"])
    return row


def part_of(kernel_name):
    """The part of a training step (PARTS) a GPU kernel belongs to."""
    name = kernel_name.lower()
    return next((part for part, fragments in PARTS.items() if any(f in name for f in fragments)), "other")


def step_breakdown(model, optimizer, batches, device, step_ms, steps=3):
    """Milliseconds of one step by part: each part's GPU kernel time (torch profiler, over `steps` steps),
    and "host", the step's wall time (`step_ms`, measured without the profiler) no kernel covers."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as profile:
        train(model, optimizer, batches, steps, device)
        _synchronise(device)
    parts = dict.fromkeys([*PARTS, "other"], 0.0)
    for event in profile.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            parts[part_of(event.name)] += event.device_time_total / steps / 1e3
    parts["host"] = max(0.0, step_ms - sum(parts.values()))
    return parts


def time_attention_map(args, device):
    """Seconds for the cell-averaged attention map of a bf16 spherical model over map_cells cells."""
    n_genes, cells = args.map_genes, args.map_cells
    model = build_model(n_genes, "l2", args.width, args.heads, args.depth, device).to(torch.bfloat16).eval()
    generator = torch.Generator(device).manual_seed(2)
    sizes = [min(args.map_batch, cells - start) for start in range(0, cells, args.map_batch)]
    loader = (random_cells(size, n_genes, device, generator, torch.bfloat16) for size in sizes)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    maps = attention_maps(model, loader, n_genes)
    _synchronise(device)
    seconds = time.perf_counter() - start
    row = {"genes": n_genes, "cells": cells, "cells_per_batch": args.map_batch, "seconds": seconds,
           "map_shape": list(maps.shape), "finite": bool(torch.isfinite(maps).all())}
    if device.type == "cuda":
        row["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        # What one batch of per-cell (H, N, N) fp32 maps would take: the buffer the read-out never makes.
        row["per_cell_maps_gib"] = args.map_batch * args.heads * n_genes**2 * 4 / 2**30
    return row


def step_modes(device):
    """How steps are issued: eagerly, and on a GPU also as one CUDA graph replay a step."""
    return ("eager", "CUDA graph") if device.type == "cuda" else ("eager",)


def run(args, device):
    rows = []
    for n_genes, mode in itertools.product(args.genes, step_modes(device)):
        cells = max(1, args.tokens_per_batch // n_genes)
        for name, (normaliser, context) in methods().items():
            row = {"genes": n_genes, "cells_per_batch": cells, "method": name, "steps": mode}
            try:
                row.update(time_training(normaliser, context, n_genes, cells, args, device, mode == "CUDA graph"),
                           status="ok")
            except torch.cuda.OutOfMemoryError:
                row["status"] = "out of memory"
            except RuntimeError as error:  # a backend that does not take this case
                row["status"] = f"unavailable: {str(error).splitlines()[0][:60]}"
            _release(device)
            rows.append(row)
            print(json.dumps(row), flush=True)
    for row in rows:  # speed against the fastest SoftMax backend at the same size, steps issued alike
        softmax = [r for r in rows if r["genes"] == row["genes"] and r["steps"] == row["steps"]
                   and r["status"] == "ok" and "softmax" in r["method"]]
        if row["status"] == "ok" and softmax:
            best = max(softmax, key=lambda r: r["cells_per_s"])
            row["vs_best_softmax"] = row["cells_per_s"] / best["cells_per_s"]
            row["best_softmax"] = best["method"].removeprefix("softmax sdpa ")
    return rows


def verdicts(rows, attention_map):
    """The issues' targets: (target, measured, met)."""
    fastest = {}  # (genes, spherical or softmax) -> the fastest row, over backends and ways of issuing steps
    for row in rows:
        kind = "spherical" if row["method"].startswith("spherical") else "softmax"
        best = fastest.get((row["genes"], kind))
        if row["status"] == "ok" and (best is None or row["cells_per_s"] > best["cells_per_s"]):
            fastest[row["genes"], kind] = row
    checks = []
    for genes, needed in SPEEDUPS.items():
        spherical, softmax = fastest.get((genes, "spherical")), fastest.get((genes, "softmax"))
        if spherical is not None and softmax is not None:
            ratio = spherical["cells_per_s"] / softmax["cells_per_s"]
            checks.append((f"spherical >= {needed}x best SoftMax cells/s at {genes} genes",
                           f"{ratio:.2f}x ({spherical['steps']} against {softmax['method']}, {softmax['steps']})",
                           ratio >= needed))
    spherical = {r["genes"]: r for r in rows if r["method"].startswith("spherical") and r["steps"] == "eager"}
    largest = spherical.get(TARGETS["largest_genes"])
    if largest is not None:
        trains = largest["status"] == "ok" and largest["cells_per_batch"] >= TARGETS["largest_batch"]
        checks.append((f"{TARGETS['largest_genes']} genes train at >= {TARGETS['largest_batch']} cells a batch",
                       f"{largest['cells_per_batch']} cells: {largest['status']}", trains))
    if attention_map is not None:
        checks.append((f"attention map, {attention_map['genes']} genes x {attention_map['cells']} cells, "
                       f"<= {TARGETS['map_seconds']:.0f} s", f"{attention_map['seconds']:.1f} s",
                       attention_map["seconds"] <= TARGETS["map_seconds"]))
    return checks


def environment(device, argv):
    env = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
           "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
           "command": " ".join(["python -m benchmarks.train_step"] + argv)}
    try:
        import triton

        env["triton"] = triton.__version__
    except ImportError:
        pass
    env["commit"] = source_commit()
    return env


def markdown(rows, attention_map, env, args):
    lines = ["# GRN transformer training throughput", "", "Produced by `benchmarks/train_step.py`; do not edit by hand.", ""]
    lines += [f"- {key}: {value}" for key, value in env.items()]
    lines += [f"- model: width {args.width}, {args.heads} heads (head dim {args.width // args.heads}), depth "
              f"{args.depth}; bf16 autocast, AdamW; {args.steps} timed steps after {args.warmup} warm-up steps; "
              f"a batch is max(1, {args.tokens_per_batch} // genes) cells, every gene a token",
              "- attention TFLOP/s count 4*B*H*N^2*D forward, 2.5x backward, per layer, over the whole step's "
              "time; x = cells/s over the fastest SoftMax backend's with steps issued alike; steps: eager, or each step one "
              "replay of a CUDA graph of the whole step (forward, loss, backward, AdamW with capturable=True); peak = "
              "all memory the training held", ""]
    header = ["genes", "cells/batch", "method", "steps", "cells/s", "tokens/s", "step ms", "attn TFLOP/s", "x best softmax",
              "peak GiB"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [str(r["genes"]), str(r["cells_per_batch"]), r["method"], r["steps"]]
        if r["status"] == "ok":
            cells += [f"{r['cells_per_s']:.1f}", f"{r['tokens_per_s']:.3g}", f"{r['step_ms']:.1f}",
                      f"{r['attention_tflops']:.1f}", f"{r['vs_best_softmax']:.2f}" if "vs_best_softmax" in r else "-",
                      f"{r['peak_gib']:.2f}" if "peak_gib" in r else "-"]
        else:
            cells += [r["status"]] + [""] * 5
        lines.append("| " + " | ".join(cells) + " |")
    parts = [*PARTS, "other", "host"]
    broken_down = [r for r in rows if "breakdown_ms" in r]
    if broken_down:
        lines += ["", "## One step by part (ms; GPU kernel time from the torch profiler, host = step time no kernel "
                  "covers)", "", "| genes | method | " + " | ".join(parts) + " |", "|" + "---|" * (len(parts) + 2)]
        lines += [f"| {r['genes']} | {r['method']} | " + " | ".join(f"{r['breakdown_ms'][p]:.2f}" for p in parts) + " |"
                  for r in broken_down]
    if attention_map is not None:
        m = attention_map
        lines += ["", "## Cell-averaged attention map (grn.readout.attention_maps, bf16 spherical model)", "",
                  f"{m['genes']} genes x {m['cells']} cells, {m['cells_per_batch']} cells a batch: "
                  + (f"**{m['seconds']:.1f} s** (model forward included), map {m['map_shape']}, finite: {m['finite']}"
                     if "status" not in m else m["status"])]
        if "peak_gib" in m:
            lines.append(f"; peak memory {m['peak_gib']:.1f} GiB, where one batch of per-cell (H, N, N) fp32 maps "
                         f"alone would need {m['per_cell_maps_gib']:.0f} GiB")
    lines += ["", "## The issue's targets", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {'yes' if met else 'NO'} |" for name, value, met in verdicts(rows, attention_map)]
    return "\n".join(lines) + "\n"


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--genes", type=int, nargs="+", default=[2048, 8192, 16384], help="tokens per cell")
    parser.add_argument("--tokens-per-batch", type=int, default=131072, help="cells a batch = this // genes")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--map-genes", type=int, default=16384, help="attention map: genes (0 = skip the map)")
    parser.add_argument("--map-cells", type=int, default=10000, help="attention map: cells")
    parser.add_argument("--map-batch", type=int, default=64, help="attention map: cells a batch")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--markdown", help="write the results table here")
    parser.add_argument("--json", help="write the raw rows and environment here")
    return parser.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse(argv)
    device = torch.device(args.device)
    env = environment(device, argv)
    rows = run(args, device)
    attention_map = None
    if args.map_genes:
        try:
            attention_map = time_attention_map(args, device)
        except torch.cuda.OutOfMemoryError:
            attention_map = {"genes": args.map_genes, "cells": args.map_cells, "seconds": float("inf"),
                             "cells_per_batch": args.map_batch, "status": "out of memory"}
    if attention_map is not None:
        print(json.dumps(attention_map), flush=True)
    report = markdown(rows, attention_map, env, args)
    print(report)
    write_results(report, {"environment": env, "rows": rows, "attention_map": attention_map,
                           "verdicts": verdicts(rows, attention_map)}, args.markdown, args.json)
    log_table_to_wandb("train-bench", rows, env,
                       {f"attention_map/{key}": value for key, value in (attention_map or {}).items()})
    return rows, attention_map


def _release(device):
    """Hand the memory of the last method back, so the next one starts from the same place."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _synchronise(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


if __name__ == "__main__":
    main()
