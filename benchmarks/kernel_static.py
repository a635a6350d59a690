"""What the compiler makes of the Gram form's kernels for an H100, without a GPU: registers, spills, shared memory.

    python -m benchmarks.kernel_static [--shapes B,H,N,D ...] [--kernels PATH ...] [--variations] [--markdown PATH]
                                       [--json PATH]

Each shape's bf16 forward and backward (the split kernels, as benchmarks.sweep_gram times them) run on CPU
tensors with the launches caught instead of made: every launch is compiled ahead of time for sm_90a by the Triton
installed (use the device's version: triton 3.6 in results/kernels/TUNING.md), and ptxas reports its registers
and spills. From the TTGIR come the shared memory a program holds, its warps, and the layout conversions and
shared-memory stores inside loops (`ttg.local_alloc` / `ttg.local_store` / `ttg.convert_layout` under an
`scf.for`): the staging that a loop repeats. Each launch's PTX is hashed, so two versions that compile to the
same code show it. --kernels compiles other versions of kernels/flashsign_gram.py (file paths) beside main's, as
sweep_gram's --baseline times them; --variations compiles sweep_gram's candidate tiles. This measures no time: it
says what a kernel change does to the code before a device call times it.
"""
import argparse
import hashlib
import os
import re
import subprocess
import tempfile

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.backends.nvidia.compiler import get_ptxas
from triton.compiler import ASTSource, make_backend
from triton.runtime.jit import create_function_from_signature

from benchmarks.kernels import parse_shape
from benchmarks.results import source_commit, write_results
from benchmarks.sweep_gram import load_kernels, split_kernels_only, variations
from kernels import triton_common

TARGET = GPUTarget("cuda", 90, 32)
# An H100 SM: 64K 32-bit registers, allocated per warp in units of 256; 228 KiB of shared memory, of which
# a program may hold 227 and each takes 1 more for the system; at most 64 warps and 32 programs.
_SM_REGISTERS, _SM_SHARED_KIB, _SM_WARPS, _SM_PROGRAMS = 65536, 228, 64, 32
SHAPES = ((2, 16, 8192, 64), (8, 4, 16384, 16), (2, 4, 32768, 32), (1, 16, 16384, 128))
_PTXAS_USAGE = re.compile(r"Used (\d+) registers")
_SPILLS = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")


def compile_for_hopper(kernel, args, meta):
    """The CompiledKernel of kernel[grid](*args, **meta) for sm_90a, bound as the JIT would bind it."""
    backend = make_backend(TARGET)
    binder = create_function_from_signature(kernel.signature, kernel.params, backend)
    bound_args, specialization, options = binder(*args, **meta)
    options, signature, constexprs, attrs = kernel._pack_args(backend, meta, bound_args, specialization, options)
    return triton.compile(ASTSource(kernel, signature, constexprs, attrs), target=TARGET, options=options.__dict__)


def ptxas_usage(ptx):
    """(registers a thread, spill bytes stored + loaded) from ptxas -v on the kernel's PTX."""
    ptxas = get_ptxas(TARGET.arch).path  # the ptxas Triton itself assembles this target with
    with tempfile.NamedTemporaryFile("w", suffix=".ptx") as source:
        source.write(ptx)
        source.flush()
        report = subprocess.run([ptxas, "-arch=sm_90a", "-v", source.name, "-o", os.devnull],
                                capture_output=True, text=True, check=True).stderr
    spills = _SPILLS.search(report)
    return int(_PTXAS_USAGE.search(report).group(1)), int(spills.group(1)) + int(spills.group(2))


def staged_in_loops(ttgir):
    """Counts of shared-memory staging and layout conversions inside scf.for bodies, by op name."""
    counts, regions = {}, []  # regions: for each open brace, whether it opened a loop body
    for line in ttgir.splitlines():
        stripped = line.strip()
        op = re.search(r"\b(ttg\.(?:local_alloc|local_store|convert_layout))\b", stripped)
        if op and any(regions):
            counts[op.group(1)] = counts.get(op.group(1), 0) + 1
        if stripped.startswith("}"):
            regions.pop()
        if stripped.endswith("{"):
            regions.append("scf.for" in stripped)
    return counts


def resident_warps(registers, shared_bytes, warps):
    """Warps an SM holds at once (theoretical occupancy times 64), and what bounds them."""
    warp_registers = -(-registers * 32 // 256) * 256
    bounds = {"registers": _SM_REGISTERS // warp_registers // warps,
              "shared": int(_SM_SHARED_KIB // (shared_bytes / 1024 + 1)),
              "warps": _SM_WARPS // warps, "programs": _SM_PROGRAMS}
    limit = min(bounds, key=bounds.get)
    return bounds[limit] * warps, limit


def report(compiled):
    ttgir = compiled.asm["ttgir"]
    registers, spills = ptxas_usage(compiled.asm["ptx"])
    dots = sorted(set(re.findall(r"(ttng\.warp_group_dot|tt\.dot)\b", ttgir)))
    warps, shared = compiled.metadata.num_warps, compiled.metadata.shared
    resident, bound = resident_warps(registers, shared, warps)
    return dict(registers=registers, spill_bytes=spills, shared_bytes=shared, warps=warps, resident_warps=resident,
                occupancy_bound=bound, pipelined_loads=ttgir.count("ttg.async_copy_global_to_local"), dots=dots,
                staged_in_loops=staged_in_loops(ttgir),
                ptx_sha1=hashlib.sha1(compiled.asm["ptx"].encode()).hexdigest())  # same code, same hash


def launches(module, shape, tiles=None):
    """(kernel name, role, grid, report) for each launch of `module`'s split-kernel forward and backward at
    `shape`, at `tiles` (default: the module's TILES)."""
    caught = []

    def catch(kernel, grid, tensors, scalars, **meta):
        role = "backward" if meta.get("WEIGHTED") or meta.get("BACKWARD") else "forward"
        caught.append((kernel.__name__, role, tuple(grid), compile_for_hopper(kernel, (*tensors, *scalars), meta)))

    tiles = split_kernels_only(tiles or module.TILES)
    q, k, v, do = (torch.empty(shape, dtype=torch.bfloat16) for _ in range(4))
    original = triton_common.launch
    triton_common.launch = catch
    try:
        o, r, gram = module.forward(q, k, v, None, 1e-6, tiles=tiles)
        module.backward(q, k, v, None, o, r, gram, do, tiles=tiles)
    finally:
        triton_common.launch = original
    return [(name, role, grid, report(compiled)) for name, role, grid, compiled in caught
            if name != "sum_chunks_kernel"]


def table_row(version, tiles, shape, name, role, grid, row):
    staged = ", ".join(f"{op.split('.')[1]} {n}" for op, n in sorted(row["staged_in_loops"].items()))
    return (f"| {version} | {tiles} | {shape} | {name} | {role} | {grid} | {row['warps']} | {row['registers']} | "
            f"{row['spill_bytes']} | {row['shared_bytes'] / 1024:.1f} | "
            f"{row['resident_warps'] / _SM_WARPS:.1%} ({row['occupancy_bound']}) | {row['pipelined_loads']} | "
            f"{' '.join(row['dots'])} | {staged or '-'} | {row['ptx_sha1'][:8]} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", type=parse_shape, default=SHAPES, metavar="B,H,N,D")
    parser.add_argument("--kernels", nargs="*", default=[], help="other kernels/flashsign_gram.py files")
    parser.add_argument("--variations", action="store_true",
                        help="also each of benchmarks.sweep_gram's variations of main's TILES, listing the launches it "
                             "changes")
    parser.add_argument("--markdown", help="write the table here")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    if triton_common.INTERPRETED:
        raise SystemExit("benchmarks.kernel_static compiles for the GPU: unset TRITON_INTERPRET")
    versions = {"main": "kernels/flashsign_gram.py", **{path: path for path in args.kernels}}
    rows = []
    lines = [f"triton {triton.__version__}, target sm_90a, commit {source_commit()}", "",
             "| version | tiles | shape | kernel | role | grid | warps | registers | spill bytes | shared KiB "
             "| occupancy (bound) | async loads | dots | staged in loops | PTX sha1 |", "|---" * 15 + "|"]
    print("\n".join(lines))
    for version, path in versions.items():
        module = load_kernels(path)
        for shape in args.shapes:
            tile_sets = ([("TILES", module.TILES)] if version != "main" or not args.variations
                         else variations(module.TILES, shape[3]))
            for label, tiles in tile_sets:  # TILES first
                caught = launches(module, shape, tiles)
                if label == "TILES":
                    as_tiles = caught
                for launch in caught:
                    if label != "TILES" and launch in as_tiles:
                        continue  # a launch this variation leaves as TILES has it
                    name, role, grid, row = launch
                    rows.append(dict(version=version, tiles=label, shape=list(shape), kernel=name, role=role,
                                     grid=list(grid), **row))
                    lines.append(table_row(version, label, shape, *launch))
                    print(lines[-1], flush=True)
    write_results("\n".join(lines) + "\n", dict(triton=triton.__version__, target="sm_90a", commit=source_commit(),
                                                 rows=rows), args.markdown, args.json)


if __name__ == "__main__":
    main()
