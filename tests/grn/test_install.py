"""Installable anywhere: the wheel ships the configs, the package data and the `flashsign-grn` script;
the configs resolve from any folder; the package imports and attends without Triton (macOS, Windows)
and without the sergio extra. (.ci/run installs the wheel and runs it outside the checkout.)"""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED_FOLDERS = ("configs", "grn", "kernels", "ncd_layers")
REAL = REPO.parent / "shared" / "data" / "real" / "beeline" / "mHSC-GM_TFs500"  # a real dataset, when shared/ is beside


def run_python(code: str, cwd, missing=()) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter in which importing any of `missing` fails as for an absent package."""
    hide = "".join(f"sys.modules[{name!r}] = None\n" for name in missing)
    return subprocess.run([sys.executable, "-c", f"import sys\n{hide}{code}"], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def checkout_files() -> list[str]:
    """The files a fresh clone of this checkout would hold (tracked, plus new ones git does not ignore)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    return [name for name in listed if name and (REPO / name).is_file()]


def test_the_wheel_ships_every_package_file_the_configs_and_the_script(tmp_path):
    """Built from a copy of the checkout (no stale build/ folder): every file of the shipped folders, from
    configs/**/*.yaml to grn/data's CSV and TF lists and kernels' C++, and nothing from data/ or tests/."""
    source = tmp_path / "checkout"
    for name in checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", str(source), "-w", str(tmp_path)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    with zipfile.ZipFile(next(tmp_path.glob("flashsign_grn-*.whl"))) as wheel:
        names = wheel.namelist()
        entry_points = next(wheel.read(name).decode() for name in names if name.endswith("entry_points.txt"))
    shipped = {name for name in names if ".dist-info/" not in name}
    expected = {name for name in checkout_files() if name.startswith(tuple(f"{f}/" for f in SHIPPED_FOLDERS))}
    assert shipped == expected
    assert {"configs/train.yaml", "configs/model/attention/spherical.yaml", "grn/data/pbmc68k_omnipath.csv",
            "grn/data/tfs/human.txt", "kernels/replay.cpp"} <= shipped
    assert "flashsign-grn = grn.cli:main" in entry_points


def test_the_entry_point_finds_its_configs_from_another_folder(tmp_path):
    """grn.cli.main (the flashsign-grn script, train.py) composes the experiment from any working folder."""
    result = run_python("from grn.cli import main\nsys.argv = ['flashsign-grn', '--cfg', 'job', "
                        "'experiment=grn_softmax', 'data=pbmc68k']\nmain()", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "normaliser: softmax" in result.stdout and "_target_: grn.data.load_pbmc68k" in result.stdout
    assert not (tmp_path / "outputs").exists()  # --cfg prints the config and runs nothing


def test_import_and_attention_work_without_triton(tmp_path):
    """Without Triton, flashsign runs the torch forms (the reference up to 2 D keys, the Gram form beyond),
    equal in float64 to spherical attention written out here."""
    code = """
import torch, kernels, grn, grn.run, grn.evaluate, grn.cli
from kernels import flashsign_api
assert not flashsign_api.TRITON and sys.modules["triton"] is None
for keys in (8, 40):  # head dim 16: 8 keys take the reference, 40 the Gram form
    q, k, v = torch.randn(3, 2, 4, keys, 16, dtype=torch.float64).unbind(0)
    scores = q @ k.transpose(-1, -2) / 16 ** 0.5
    expected = scores @ v / (scores.square().sum(-1, keepdim=True) + 1e-6).sqrt()
    torch.testing.assert_close(kernels.flashsign(q, k, v), expected, rtol=1e-12, atol=1e-12)
print("attended")
"""
    result = run_python(code, cwd=tmp_path, missing=["triton"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "attended"


def test_the_package_works_without_the_sergio_extra(tmp_path):
    """grn, its run core and evaluation import without sergio-scsim and networkx; asking for a SERGIO
    dataset names the extra to install."""
    code = """
import grn, grn.run, grn.evaluate, grn.data.simulated
from grn.data.sergio import simulate_sergio
from grn.errors import InputError
try:
    simulate_sergio(n_genes=5)
except InputError as error:
    print(error)
"""
    result = run_python(code, cwd=tmp_path, missing=["SERGIO", "networkx"])
    assert result.returncode == 0, result.stderr
    assert "pip install 'flashsign-grn[sergio]'" in result.stdout


@pytest.mark.skipif(not REAL.is_dir(), reason="shared real data not beside the repository")
def test_real_data_is_read_and_preprocessed_without_scanpy(tmp_path):
    """The GPU machine has no scanpy (and scanpy needs numba): a real dataset's path through the run core
    imports neither; real data arrives normalised, so no scanpy step runs."""
    code = f"""
import grn.evaluate_real
from grn.data.real import load_real
from grn.data.preprocess import preprocess
data = preprocess(load_real({str(REAL)!r}), normalize_total=None, log1p=False, n_top_genes=None)
print(data.n_vars)
"""
    result = run_python(code, cwd=REPO, missing=["scanpy", "numba"])  # importing either fails there
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["632"]
