"""Tile sweep for the Gram form's one-pass backward against its three-kernel backward (GPU).

    python -m benchmarks.sweep_backward [--json results/kernels/sweep_backward-h200.json]

For each head dim at key counts up to 1024, every candidate tile of the one-pass backward is
checked against a float64 reference once (bf16, a random key mask), then timed:
GPU time of one backward (CUDA graph replays after an L2 flush, benchmarks.kernels.graph_ms), and the
host cost of a backward (perf_counter over calls that are not synchronised). Each candidate runs as
a Gram form of its own (its tiles passed to the kernels' launchers), so no table is changed and the
launch replay records each candidate as its own case. The chosen tiles go to TILES in
kernels/flashsign_gram.py by hand, with the numbers in results/kernels/TUNING.md; the H200 run's
rows are results/kernels/sweep_backward-h200.json.
"""
import argparse
import functools
import itertools
import json
import statistics
import sys
import time

import torch
import triton

from benchmarks.kernels import capture_stream, graph_ms
from benchmarks.results import write_results
from kernels import flashsign_gram as gram
from kernels.flashsign_api import Form, attend
from kernels.reference import spherical_attention_reference

# (B, H) per head dim: the GRN model's (64 cells, 4 heads) at D=16, kernels.bench's otherwise.
BATCH_HEADS = {16: (64, 4), 32: (8, 16), 64: (4, 16)}
KEYS = (256, 512, 768, 1024)
CANDIDATES = list(itertools.product((64, 128, 256), (32, 64, 128), (4, 8), (2,)))


def gram_form(head_dim, tile):
    """The Gram form with the one-pass backward at `tile` up to max(KEYS) keys (None: never)."""
    tiles = gram.TILES._replace(one_pass_backward_max_keys=max(KEYS),
                                one_pass_backward={} if tile is None else {head_dim: tile})
    return Form("gram", functools.partial(gram.forward, tiles=tiles), functools.partial(gram.backward, tiles=tiles))


def inputs(shape, dtype=torch.bfloat16):
    q, k, v = (torch.randn(shape, device="cuda", dtype=dtype, requires_grad=True) for _ in range(3))
    return q, k, v, torch.randn(shape, device="cuda", dtype=dtype)


def max_relative_error(form, shape, dtype=torch.bfloat16):
    """Worst of dq, dk, dv's ||err|| / ||ref|| against float64, a random key mask included."""
    q, k, v, grad_out = inputs(shape, dtype)
    mask = torch.rand(shape[0], shape[2], device="cuda") > 0.3
    grads = torch.autograd.grad(attend(form, q, k, v, mask, 1e-6), (q, k, v), grad_out)
    exact = [x.detach().double().requires_grad_() for x in (q, k, v)]
    expected = torch.autograd.grad(spherical_attention_reference(*exact, mask), exact, grad_out.double())
    return max(((g.double() - e).norm() / e.norm()).item() for g, e in zip(grads, expected))


def backward_costs(form, shape, calls=200):
    """(GPU ms, host ms) of one backward at `shape`, bf16, through `form`."""
    q, k, v, grad_out = inputs(shape)
    with torch.cuda.stream(capture_stream()):  # a backward runs on its forward's stream, which graph_ms captures
        out = attend(form, q, k, v, None, 1e-6)
    gpu = graph_ms(lambda: torch.autograd.grad(out, (q, k, v), grad_out, retain_graph=True))
    host = []
    for _ in range(5):
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(calls):
            torch.autograd.grad(out, (q, k, v), grad_out, retain_graph=True)
        host.append((time.perf_counter() - start) / calls * 1e3)
        torch.cuda.synchronize()
    return gpu, statistics.median(host)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write every row here")
    args = parser.parse_args()
    rows = []
    for head_dim, (batch, heads) in BATCH_HEADS.items():
        for tile in [None] + CANDIDATES:  # None: the three-kernel backward
            form = gram_form(head_dim, tile)
            try:
                error = max_relative_error(form, (2, 4, 1000, head_dim))
            except Exception as err:  # a tile that does not compile (shared memory, registers)
                print(f"D={head_dim} tile {tile}: {str(err).splitlines()[0][:100]}", flush=True)
                continue
            for n in KEYS:
                gpu, host = backward_costs(form, (batch, heads, n, head_dim))
                row = dict(head_dim=head_dim, n=n, tile=tile, gpu_us=round(gpu * 1e3, 1),
                           host_us=round(host * 1e3, 1), max_rel_error=float(f"{error:.2e}"))
                rows.append(row)
                print(json.dumps(row), flush=True)
    env = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
           "command": " ".join(["python -m benchmarks.sweep_backward"] + sys.argv[1:])}
    write_results("", {**env, "rows": rows}, json_path=args.json)
    print("\nbest one-pass tile per (D, N) by GPU time, against the three-kernel backward (us):")
    for head_dim, n in itertools.product(BATCH_HEADS, KEYS):
        here = [r for r in rows if r["head_dim"] == head_dim and r["n"] == n]
        base = [r for r in here if r["tile"] is None]
        tiles = [r for r in here if r["tile"] is not None]
        if base and tiles:
            best = min(tiles, key=lambda r: r["gpu_us"])
            print(f"D={head_dim:3d} N={n:5d}: three-kernel {base[0]['gpu_us']:7.1f} gpu {base[0]['host_us']:7.1f} host"
                  f" | one-pass {best['tile']} {best['gpu_us']:7.1f} gpu {best['host_us']:7.1f} host"
                  f" err {best['max_rel_error']:.1e}")


if __name__ == "__main__":
    main()
