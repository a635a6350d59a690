"""Tile sweep for the Gram form's split kernels (the reduction and the row map), forward and backward (GPU).

    python -m benchmarks.sweep_gram [--baseline PATH ...] [--tiles-only] [--extra D:TABLE=ENTRY[;TABLE=ENTRY] ...]
                                    [--shapes B,H,N,D ...] [--json PATH]

For each shape (bf16), the tiles in TILES and variations of one entry at a time for the shape's head dim (the
forward and backward reductions, the row map, the programs a launch aims for) each run as a Gram form of its
own, as in benchmarks/sweep_backward.py. TILES and the baseline are checked against float64 (O and the gradients,
with a key mask; a chosen variation is checked by the tests and the GPU fuzz), then each is timed in GPU time: a forward, and a backward (benchmarks.kernels.graph_ms), with its share of the
roofline at the copy bandwidth measured in the same run. --baseline also times other versions of
kernels/flashsign_gram.py (file paths), so a kernel change is measured beside its predecessor in one process.
--extra adds candidates that change several entries at once, at shapes of head dim D, for example
`64:rows=64,64,8,2;rows_backward=64,64,8,2` (a second round from a first one's winners, or from
benchmarks.kernel_static). The chosen tiles go to TILES by hand, with the numbers in results/kernels/TUNING.md.
"""
import argparse
import functools
import importlib.util
import json
import sys

import torch
import triton

from benchmarks.kernels import capture_stream, graph_ms, measure_copy_tbps, parse_shape, roofline_ms
from benchmarks.results import write_results
from benchmarks.sweep_backward import inputs, max_relative_error
from kernels import flashsign_gram as gram
from kernels.flashsign_api import Form, attend
from kernels.reference import spherical_attention_reference


def variations(tiles, head_dim):
    """(label, Tiles): TILES, then each with one value of one table's entry at `head_dim` changed: a
    block of rows halved or doubled, the other column block (D or D/2), the other warp count, a
    pipeline stage more or fewer (and for the row maps, rows and warps doubled together); the programs per
    launch halved or doubled; and the row map's programs quartered or multiplied."""
    yield "TILES", tiles
    for table in ("reduce", "reduce_backward", "rows", "rows_backward"):
        rows, columns, warps, stages = getattr(tiles, table)[head_dim]
        changes = [(rows // 2, columns, warps, stages), (rows * 2, columns, warps, stages),
                   (rows, head_dim if columns != head_dim else head_dim // 2, warps, stages),
                   (rows, columns, 8 if warps == 4 else 4, stages)]
        changes += [(rows, columns, warps, value) for value in (stages - 1, stages + 1) if value >= 1]
        if table.startswith("rows"):  # twice the rows on twice the warps: the same rows a warp
            changes.append((rows * 2, columns, warps * 2, stages))
        for changed in changes:
            if min(changed[:2]) >= 16 and changed[1] <= head_dim:
                yield f"{table}={changed}", tiles._replace(**{table: {**getattr(tiles, table), head_dim: changed}})
    for programs in (tiles.programs // 2, tiles.programs * 2):
        yield f"programs={programs}", tiles._replace(programs=programs)
    # the row map from a few long programs per head to one program per row block, each with the rows'
    # blocks doubled too
    for row_programs in (tiles.row_programs * 4, tiles.row_programs * 64):
        more_programs = tiles._replace(row_programs=row_programs)
        yield f"row_programs={row_programs}", more_programs
        yield f"row_programs={row_programs}, rows doubled", both_row_maps(
            more_programs, head_dim, lambda rows, columns, warps, stages: (rows * 2, columns, warps, stages))
    # and to fewer, longer programs, alone and with a pipeline a stage deeper, which only a program's later
    # blocks profit from
    longer = tiles._replace(row_programs=tiles.row_programs // 4)
    yield f"row_programs={longer.row_programs}", longer
    yield f"row_programs={longer.row_programs}, a stage more", both_row_maps(
        longer, head_dim, lambda rows, columns, warps, stages: (rows, columns, warps, stages + 1))


def both_row_maps(tiles, head_dim, change):
    """`tiles` with the forward and backward row maps' entries at `head_dim` changed by change(*entry)."""
    return tiles._replace(**{table: {**getattr(tiles, table), head_dim: change(*getattr(tiles, table)[head_dim])}
                             for table in ("rows", "rows_backward")})


def extra_candidate(text, tiles):
    """(head dim, label, Tiles) of an --extra candidate: "D:table=a,b,c,d;table=a,b,c,d" changes those tables'
    entries at head dim D."""
    head_dim, changes = text.split(":", 1)
    head_dim = int(head_dim)
    for change in changes.split(";"):
        table, entry = change.split("=")
        entry = tuple(map(int, entry.split(",")))
        if table not in ("reduce", "reduce_backward", "rows", "rows_backward") or len(entry) != 4:
            raise ValueError(f"--extra {text!r}: {change!r} is not a tile table's (rows, columns, warps, stages)")
        tiles = tiles._replace(**{table: {**getattr(tiles, table), head_dim: entry}})
    return head_dim, changes, tiles


def split_kernels_only(tiles):
    """`tiles` with the one-pass kernels off: the split kernels (reduction, row map) at every N."""
    return tiles._replace(one_pass_max_keys=0, one_pass_backward_max_keys=0)


def split_form(tiles, module=gram):
    """The Gram form of `module` (a version of kernels/flashsign_gram.py) at `tiles`, split kernels only."""
    tiles = split_kernels_only(tiles)
    return Form("gram", functools.partial(module.forward, tiles=tiles), functools.partial(module.backward, tiles=tiles))


def load_kernels(path):
    """Another version of kernels/flashsign_gram.py, imported from its file path as a module of its own."""
    spec = importlib.util.spec_from_file_location("flashsign_gram_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def baseline_form(path):
    """The Gram form of another kernels/flashsign_gram.py at its own TILES, split kernels only."""
    module = load_kernels(path)
    return split_form(module.TILES, module)


def output_error(form, shape):
    """||O - ref|| / ||ref|| against float64 (bf16, a random key mask)."""
    q, k, v, _ = inputs(shape)
    mask = torch.rand(shape[0], shape[2], device="cuda") > 0.3
    with torch.no_grad():
        out = attend(form, q, k, v, mask, 1e-6)
    expected = spherical_attention_reference(q.double(), k.double(), v.double(), mask)
    return ((out.double() - expected).norm() / expected.norm()).item()


def gpu_us(form, shape):
    """(forward, backward) GPU microseconds at `shape`, bf16."""
    q, k, v, grad_out = inputs(shape)
    with torch.no_grad():
        forward = graph_ms(lambda: attend(form, q, k, v, None, 1e-6))
    with torch.cuda.stream(capture_stream()):  # a backward runs on its forward's stream, which graph_ms captures
        out = attend(form, q, k, v, None, 1e-6)
    backward = graph_ms(lambda: torch.autograd.grad(out, (q, k, v), grad_out, retain_graph=True))
    return forward * 1e3, backward * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", type=parse_shape, metavar="B,H,N,D",
                        default=[(2, 16, 8192, 64), (1, 16, 16384, 128), (8, 4, 16384, 16)])
    parser.add_argument("--baseline", nargs="+", default=[],
                        help="other kernels/flashsign_gram.py files to time beside these tiles")
    parser.add_argument("--json", help="write every row here")
    parser.add_argument("--extra", nargs="+", default=[], metavar="D:TABLE=ENTRY[;TABLE=ENTRY]",
                        help="candidates changing several entries at once, timed at the shapes of head dim D")
    parser.add_argument("--tiles-only", action="store_true",
                        help="time TILES (and the baseline) alone: a kernel change beside its predecessor")
    args = parser.parse_args()
    extras = [extra_candidate(text, gram.TILES) for text in args.extra]  # a typo fails before any timing
    if not torch.cuda.is_available():
        sys.exit("benchmarks.sweep_gram needs a CUDA GPU")
    copy_tbps = measure_copy_tbps()
    rows = []
    for shape in args.shapes:
        floor = roofline_ms(shape, "bf16", copy_tbps)
        candidates = [(f"baseline {path}", baseline_form(path)) for path in args.baseline]
        tiles = [("TILES", gram.TILES)] if args.tiles_only else variations(gram.TILES, shape[3])
        candidates += [(label, split_form(table)) for label, table in tiles]
        candidates += [(label, split_form(table)) for head_dim, label, table in extras if head_dim == shape[3]]
        for label, form in candidates:
            try:  # the tables' own tiles and the baseline are checked; the rest, as tests do, once chosen
                check = (2, 4, 1000, shape[3])
                error = (max(output_error(form, check), max_relative_error(form, check))
                         if label == "TILES" or label.startswith("baseline") else float("nan"))
                forward, backward = gpu_us(form, shape)
            except Exception as err:  # a tile that does not compile (shared memory, registers)
                print(f"{shape} {label}: {str(err).splitlines()[0][:120]}", flush=True)
                continue
            row = dict(shape=list(shape), tiles=label, fwd_us=round(forward, 1), bwd_us=round(backward, 1),
                       fwd_share=round(floor["fwd"] * 1e3 / forward, 3), bwd_share=round(floor["bwd"] * 1e3 / backward, 3),
                       fwd_bwd_share=round(floor["fwd+bwd"] * 1e3 / (forward + backward), 3),
                       max_rel_error=float(f"{error:.2e}"))
            rows.append(row)
            print(json.dumps(row), flush=True)
    env = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
           "copy TB/s": round(copy_tbps, 3), "command": " ".join(["python -m benchmarks.sweep_gram"] + sys.argv[1:])}
    write_results("", {**env, "rows": rows}, json_path=args.json)
    print("\nfastest per shape (us), forward and backward apart:")
    for shape in args.shapes:
        here = [r for r in rows if r["shape"] == list(shape)]
        if here:
            for key in ("fwd_us", "bwd_us"):
                best = min(here, key=lambda r: r[key])
                print(f"{shape} {key}: {best['tiles']} {best[key]}"
                      f" (TILES {next((r[key] for r in here if r['tiles'] == 'TILES'), '-')})")


if __name__ == "__main__":
    main()
