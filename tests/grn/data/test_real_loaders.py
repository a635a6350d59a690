"""Real-cell loaders (BEELINE's experimental layout and McCalla's) on hand-written folders, their named
errors, and the shared data's README tables (edges and regulators per truth) when the data is beside the repo."""
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grn.data.loaders import load_beeline
from grn.data.real import find_real_datasets, load_real
from grn.errors import InputError

REAL = Path(__file__).resolve().parents[4] / "shared" / "data" / "real"

# genes x cells, as both layouts store them
VALUES = pd.DataFrame([[0.0, 1.5, 2.0], [3.0, 0.0, 0.5], [1.0, 1.0, 0.0], [0.25, 4.0, 2.0]],
                      index=["G1", "G2", "G3", "G4"], columns=["c1", "c2", "c3"])


def write_beeline(folder: Path, gzipped=True, truths=None) -> Path:
    (folder / "truths").mkdir(parents=True)
    VALUES.to_csv(folder / ("ExpressionData.csv.gz" if gzipped else "ExpressionData.csv"))
    (folder / "PseudoTime.csv").write_text(",PseudoTime1,PseudoTime2\nc3,0.5,\nc1,0.1,0.7\nc2,0.2,\n")
    truths = truths or {"chip": "Gene1,Gene2\nG1,G2\nG1,G2\nG1,G9\nG3,G3\nG3,G4\n", "string": "Gene1,Gene2\nG4,G1\n"}
    for name, text in truths.items():
        (folder / "truths" / f"{name}.csv").write_text(text)
    return folder


def write_mccalla(root: Path, name="hESC_test", expression=None, genes="G1\nG2\nG3\nG4\n", tfs="G9\nG1\nG3\nG1\n") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    rows = ["\t".join(VALUES.columns)] + ["\t".join([gene, *map(str, row)]) for gene, row in VALUES.iterrows()]
    text = expression if expression is not None else "\n".join(rows) + "\n"
    with gzip.open(folder / "expression_log2.tsv.gz", "wt") as handle:
        handle.write(text)
    (folder / "genes.tsv").write_text(genes)
    (folder / "tfs.tsv").write_text(tfs)
    truths = root / "truths" / name.split("_")[0]
    truths.mkdir(parents=True, exist_ok=True)
    (truths / "kd.tsv").write_text("G1\tG2\nG1\tG2\nG3\tG1\nG3\tG3\nG1\tMOUSE1\n")
    (truths / "literature.tsv").write_text("G4\tG2\n")
    return folder


def test_beeline_layout_reads_genes_by_cells_with_pseudotime_and_restricted_truths(tmp_path):
    adata = load_real(write_beeline(tmp_path / "hHep_TFs500"))
    assert adata.uns["name"] == "hHep_TFs500" and "tfs" not in adata.uns
    assert list(adata.var_names) == ["G1", "G2", "G3", "G4"] and list(adata.obs_names) == ["c1", "c2", "c3"]
    assert adata.X.dtype == np.float32
    np.testing.assert_array_equal(adata.X, VALUES.T.to_numpy(np.float32))  # as stored: no renormalisation
    np.testing.assert_array_equal(adata.obs["pseudotime_0"], [0.1, 0.2, 0.5])
    np.testing.assert_array_equal(adata.obs["pseudotime_1"], [0.7, np.nan, np.nan])
    truths = {name: table.values.tolist() for name, table in adata.uns["truths"].items()}
    # the duplicate, the self-loop and the edge to a gene outside the data are gone
    assert truths == {"chip": [["G1", "G2"], ["G3", "G4"]], "string": [["G4", "G1"]]}


def test_beeline_layout_pseudotime_matches_load_beeline(tmp_path):
    folder = write_beeline(tmp_path / "plain", gzipped=False)
    (folder / "refNetwork.csv").write_text("Gene1,Gene2,Type\nG1,G2,+\n")
    reference = load_beeline(folder)
    adata = load_real(folder)
    pd.testing.assert_frame_equal(adata.obs, reference.obs)
    np.testing.assert_array_equal(adata.X, reference.X)


def test_mccalla_layout_reads_the_short_header_the_tf_list_and_its_cell_types_truths(tmp_path):
    adata = load_real(write_mccalla(tmp_path))
    assert adata.uns["name"] == "hESC_test"
    assert list(adata.var_names) == ["G1", "G2", "G3", "G4"] and list(adata.obs_names) == ["c1", "c2", "c3"]
    np.testing.assert_array_equal(adata.X, VALUES.T.to_numpy(np.float32))
    assert adata.uns["tfs"] == ["G1", "G3"]  # file order, once each, within the data's genes
    truths = {name: table.values.tolist() for name, table in adata.uns["truths"].items()}
    assert truths == {"kd": [["G1", "G2"], ["G3", "G1"]], "literature": [["G4", "G2"]]}


def test_find_real_datasets_lists_either_layout_by_name(tmp_path):
    write_mccalla(tmp_path, "mESC_b")
    write_beeline(tmp_path / "a_TFs500")
    (tmp_path / "truths" / "notes").mkdir()
    assert [f.name for f in find_real_datasets(tmp_path)] == ["a_TFs500", "mESC_b"]
    assert [f.name for f in find_real_datasets(tmp_path, "mESC*")] == ["mESC_b"]
    with pytest.raises(InputError, match="no real dataset folder matching 'x\\*'"):
        find_real_datasets(tmp_path, "x*")


def expression_text(rows):
    return "\n".join("\t".join(map(str, row)) for row in rows) + "\n"


HEADER = ["c1", "c2"]


@pytest.mark.parametrize("layout, corrupt, message", [
    ("mccalla", lambda f: (f / "expression_log2.tsv.gz").unlink(), "no expression file"),
    ("beeline", lambda f: (f / "ExpressionData.csv.gz").write_bytes(b"not gzip"), "malformed CSV"),
    ("mccalla", lambda f: (f / "expression_log2.tsv.gz").write_bytes(b"\x1f\x8b\x08broken"), "cannot read"),
    ("mccalla", lambda f: (f / "genes.tsv").unlink(), r"file not found: .*genes.tsv"),
    ("mccalla", lambda f: (f / "tfs.tsv").write_text("\n"), r"tfs.tsv: empty"),
    ("mccalla", lambda f: (f / "tfs.tsv").write_text("X1\nX2\n"), r"tfs.tsv: none of its 2 TFs is a gene"),
    ("mccalla", lambda f: (f.parent / "truths" / "hESC" / "kd.tsv").write_text("G1\tMOUSE1\n"),
     r"kd.tsv: no edge joins two distinct genes"),
    ("mccalla", lambda f: (f.parent / "truths" / "hESC" / "kd.tsv").write_text("G1\tG2\nG3\tG1\tx\n"),
     r"kd.tsv: ragged TSV: line 2 has 3 fields"),
    ("beeline", lambda f: (f / "truths" / "string.csv").write_text("Gene1,Gene2\nX1,X2\n"),
     r"string.csv: no edge joins two distinct genes"),
    ("beeline", lambda f: (f / "truths" / "string.csv").write_text("From,To\nG1,G2\n"), r"string.csv: missing column"),
    ("beeline", lambda f: [p.unlink() for p in (f / "truths").glob("*.csv")], "no truth file"),
    ("beeline", lambda f: VALUES.T.to_csv(f / "ExpressionData.csv.gz"), "genes and cells look swapped"),
    ("beeline", lambda f: (f / "PseudoTime.csv").write_text(",PseudoTime\nc1,0.1\n"), "do not cover the cells"),
])
def test_bad_folders_are_named(tmp_path, layout, corrupt, message):
    folder = write_mccalla(tmp_path) if layout == "mccalla" else write_beeline(tmp_path / "d")
    corrupt(folder)
    with pytest.raises(InputError, match=message):
        load_real(folder)


@pytest.mark.parametrize("rows, message", [
    ([HEADER, ["G1", 1, 2], ["G2", 1], ["G3", 0, 1]], "ragged TSV: line 3 has 2 fields where the other rows have 3"),
    ([["", *HEADER], ["G1", 1, 2], ["G2", 1, 0]], "the header has 3 fields and each row 3"),
    ([HEADER, ["G1", 1, "nan"], ["G2", 1, 0]], "NaN or infinite"),
    ([HEADER, ["G1", 1, "inf"], ["G2", 1, 0]], "NaN or infinite"),
    ([HEADER, ["G1", 1, -0.5], ["G2", 1, 0]], "negative"),
    ([HEADER, ["G1", 1, "x"], ["G2", 1, 0]], "non-numeric"),
    ([HEADER, ["G1", 1, 2], ["G1", 1, 0]], r"duplicate gene names: \['G1'\]"),
    ([["c1", "c1"], ["G1", 1, 2], ["G2", 1, 0]], r"duplicate cell names: \['c1'\]"),
    ([HEADER], "empty"),
])
def test_bad_mccalla_expression_is_named(tmp_path, rows, message):
    folder = write_mccalla(tmp_path, expression=expression_text(rows), genes="G1\nG2\n", tfs="G1\n")
    with pytest.raises(InputError, match=message):
        load_real(folder)


def test_mccalla_swapped_expression_and_a_gene_list_that_differs_are_named(tmp_path):
    swapped = [["G1", "G2"], ["c1", 1, 2], ["c2", 1, 0], ["c3", 0, 1]]
    folder = write_mccalla(tmp_path / "a", expression=expression_text(swapped), genes="G1\nG2\n", tfs="G1\n")
    with pytest.raises(InputError, match="genes and cells look swapped"):
        load_real(folder)
    folder = write_mccalla(tmp_path / "b", genes="G1\nG2\nG3\n")
    with pytest.raises(InputError, match=r"genes.tsv: does not list exactly the genes .* e.g. \['G4'\]"):
        load_real(folder)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(InputError, match="dataset folder not found"):
        load_real(tmp_path / "nope")
    with pytest.raises(InputError, match="dataset folder not found"):
        find_real_datasets(tmp_path / "nope")


# The README of shared/data/real: (edges, regulators) of every truth within each dataset's genes
README_TRUTHS = {
    "hHep_TFs500": (948, 425, {"celltype_chip": (9939, 30), "nonspecific_chip": (4129, 322), "string": (7523, 409)}),
    "hHep_TFs1000": (1448, 425, {"celltype_chip": (15558, 31), "nonspecific_chip": (5351, 332), "string": (9003, 414)}),
    "mDC_TFs500": (821, 383, {"celltype_chip": (756, 20), "nonspecific_chip": (3067, 250), "string": (4815, 264)}),
    "mDC_TFs1000": (1321, 383, {"celltype_chip": (1193, 21), "nonspecific_chip": (3918, 254), "string": (5898, 273)}),
    "mESC_TFs500": (1120, 421, {"celltype_chip": (29613, 88), "nonspecific_chip": (6893, 516), "string": (7762, 495)}),
    "mHSC-GM_TFs500": (632, 889, {"celltype_chip": (7364, 22), "nonspecific_chip": (743, 82), "string": (748, 92)}),
    "hESC_chen": (8595, 385, {"chip_kd_intersect": (2960, 19), "kd_union": (14943, 70), "literature": (75, 15)}),
    "mESC_semrau": (10243, 384, {"chip_kd_intersect": (4393, 37), "chip_union": (94126, 49), "kd_union": (39709, 111),
                                 "literature": (129, 23)}),
}


@pytest.mark.skipif(not REAL.is_dir(), reason="shared/data/real is not beside the repository")
def test_shared_real_data_matches_its_readme():
    datasets = find_real_datasets(REAL / "beeline") + find_real_datasets(REAL / "mccalla")
    assert [d.name for d in datasets] == sorted(README_TRUTHS, key=lambda n: (n in ("hESC_chen", "mESC_semrau"), n))
    for folder in datasets:
        adata = load_real(folder)
        n_genes, n_cells, truths = README_TRUTHS[folder.name]
        assert adata.shape == (n_cells, n_genes)
        assert {name: (len(t), t["Gene1"].nunique()) for name, t in adata.uns["truths"].items()} == truths
    assert len(load_real(REAL / "mccalla" / "hESC_chen").uns["tfs"]) == 220  # README: TFs in data
