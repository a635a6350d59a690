"""docs/tutorial.md runs: its ```python blocks, executed in order in one namespace, do what the text says."""
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"


def code_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", markdown, flags=re.S | re.M)


def test_tutorial_runs(tmp_path, monkeypatch, reference_attention):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the tutorial's temporary folder lands here
    monkeypatch.chdir(tmp_path)
    blocks = code_blocks(TUTORIAL.read_text())
    assert len(blocks) == 6
    namespace = {}
    for block in blocks:
        exec(compile(block, str(TUTORIAL), "exec"), namespace)
    folder, adata, edges = namespace["folder"], namespace["adata"], namespace["edges"]
    assert folder.parent == tmp_path
    assert set(edges["source"]) <= set(namespace["tfs"]) and len(edges) > 0
    assert (folder / "run" / "checkpoints" / "last.ckpt").is_file()
    for figure in ("network.png", "perturbation.png"):
        assert (folder / figure).stat().st_size > 0
    shift = pd.DataFrame(adata.layers["perturb_shift"], columns=adata.var_names)
    spi1 = adata[:, "SPI1"].X
    spi1 = (spi1.toarray() if sp.issparse(spi1) else np.asarray(spi1)).ravel()
    np.testing.assert_allclose(shift["SPI1"], -spi1, rtol=1e-5, atol=1e-6)  # a knockout: down by its level
    assert shift.drop(columns=["SPI1", "GATA2"]).abs().to_numpy().sum() > 0
