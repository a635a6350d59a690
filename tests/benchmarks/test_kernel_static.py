"""benchmarks.kernel_static on CPU: its occupancy against Nsight Compute's, its loop scan, and one real compile."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from benchmarks import kernel_static
from kernels import flashsign_gram


# Nsight Compute on an H100 (results/kernels/logs/ncu-h100.txt): registers a thread, dynamic shared memory a
# block (kB), warps a block, and the theoretical occupancy it reported.
@pytest.mark.parametrize("registers, shared_kb, warps, occupancy", [
    (92, 49.15, 4, 0.25), (96, 53.25, 4, 0.25), (231, 49.41, 4, 0.125), (178, 77.82, 2, 0.0625),
    (122, 73.73, 4, 0.1875), (254, 49.15, 4, 0.125), (232, 37.12, 4, 0.125), (255, 16.38, 4, 0.125)])
def test_resident_warps_match_nsight_compute(registers, shared_kb, warps, occupancy):
    resident, _ = kernel_static.resident_warps(registers, shared_kb * 1000, warps)
    assert resident / 64 == occupancy


def test_resident_warps_names_the_bound():
    assert kernel_static.resident_warps(178, 76 * 1024, 2)[1] == "shared"
    assert kernel_static.resident_warps(231, 48 * 1024, 4)[1] == "registers"
    assert kernel_static.resident_warps(32, 0, 1) == (32, "programs")


def test_staged_in_loops_counts_only_loop_bodies():
    ttgir = """
    %a = ttg.local_alloc %x : (tensor<64x64xbf16>) -> !ttg.memdesc<64x64xbf16>
    scf.if %c {
      %b = ttg.convert_layout %y : tensor<32x64xbf16> -> tensor<32x64xbf16>
    }
    scf.for %i = %lo to %hi step %c1 : i32 {
      %d = ttg.local_alloc %q : (tensor<32x64xbf16>) -> !ttg.memdesc<32x64xbf16>
      %e = scf.if %c -> (i32) {
        %f = ttg.convert_layout %z : tensor<32x64xbf16> -> tensor<32x64xbf16>
        scf.yield %one : i32
      } else {
        %g = ttg.convert_layout %z : tensor<32x64xbf16> -> tensor<32x64xbf16>
        scf.yield %two : i32
      }
    }
    %h = ttg.local_alloc %x : (tensor<64x64xbf16>) -> !ttg.memdesc<64x64xbf16>
    """
    assert kernel_static.staged_in_loops(ttgir) == {"ttg.local_alloc": 1, "ttg.convert_layout": 2}


def test_compiles_every_launch_for_hopper(tmp_path):
    """The command line, outside the interpreter the tests run under: a D=16 forward and backward are caught
    as the reduction and the row map twice each, compiled with the tiles' warps, and ptxas accounts for each."""
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    subprocess.run([sys.executable, "-m", "benchmarks.kernel_static", "--shapes", "1,2,512,16", "--json",
                    str(tmp_path / "static.json"), "--markdown", str(tmp_path / "static.md")], env=env, check=True,
                   cwd=pathlib.Path(__file__).parents[2])
    rows = json.loads((tmp_path / "static.json").read_text())["rows"]
    assert [(row["kernel"], row["role"]) for row in rows] == [
        ("_gram_kernel", "forward"), ("_rows_kernel", "forward"), ("_gram_kernel", "backward"),
        ("_rows_kernel", "backward")]
    block_m, _, forward_warps, _ = flashsign_gram.TILES.rows[16]
    backward_warps = flashsign_gram.TILES.rows_backward[16][2]
    assert rows[1]["warps"] == forward_warps and rows[3]["warps"] == backward_warps
    assert rows[1]["grid"] == [512 // block_m, 2]
    for row in rows:
        assert 0 < row["registers"] <= 255 and row["dots"]
        assert row["resident_warps"] == kernel_static.resident_warps(row["registers"], row["shared_bytes"],
                                                                     row["warps"])[0]
    assert (tmp_path / "static.md").read_text().count("| main | TILES | (1, 2, 512, 16) |") == 4
    assert len({row["ptx_sha1"] for row in rows}) == 4  # four kernels, four codes


def test_row_map_stages_pipeline_its_loads():
    """The row maps' stages in TILES reach the compiler: one stage loads each block's rows when it is mapped, two issue
    the next block's loads asynchronously (an independent check of the launcher's options, in the TTGIR)."""
    script = """
import json
from benchmarks import kernel_static
from kernels import flashsign_gram as gram
one, two = ({32: (64, 32, 4, stages)} for stages in (1, 2))
print(json.dumps([[row["pipelined_loads"] for name, _, _, row in kernel_static.launches(gram, (1, 2, 512, 32), tiles)
                   if name == "_rows_kernel"] for tiles in (gram.TILES._replace(rows=one, rows_backward=one),
                                                            gram.TILES._replace(rows=two, rows_backward=two))]))
"""
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True,
                         cwd=pathlib.Path(__file__).parents[2]).stdout
    one_stage, two_stages = json.loads(out.splitlines()[-1])
    assert one_stage == [0, 0]
    assert min(two_stages) > 0


def test_variations_list_only_the_launches_they_change(tmp_path, monkeypatch):
    """With --variations a candidate's row appears only where its compiled launch differs from TILES'."""
    def report(registers):
        return dict(registers=registers, spill_bytes=0, shared_bytes=1024, warps=4, resident_warps=16,
                    occupancy_bound="shared", pipelined_loads=0, dots=["tt.dot"], staged_in_loops={},
                    ptx_sha1=str(registers))

    def fake_launches(module, shape, tiles):
        forward_registers, backward_registers = tiles
        return [("_rows_kernel", "forward", (1, 2), report(forward_registers)),
                ("_rows_kernel", "backward", (2, 2), report(backward_registers))]

    monkeypatch.setattr(kernel_static.triton_common, "INTERPRETED", False)
    monkeypatch.setattr(kernel_static, "launches", fake_launches)
    monkeypatch.setattr(kernel_static, "variations",
                        lambda tiles, head_dim: iter([("TILES", (96, 178)), ("deeper forward", (100, 178)),
                                                      ("same", (96, 178))]))
    monkeypatch.setattr(sys, "argv", ["kernel_static", "--variations", "--shapes", "1,2,512,16",
                                      "--json", str(tmp_path / "rows.json")])
    kernel_static.main()
    rows = json.loads((tmp_path / "rows.json").read_text())["rows"]
    assert [(row["tiles"], row["role"], row["registers"]) for row in rows] == [
        ("TILES", "forward", 96), ("TILES", "backward", 178), ("deeper forward", "forward", 100)]
