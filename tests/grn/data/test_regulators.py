"""TF lists: a list, a file or a species keyword; regulators are the listed genes present, in gene order."""
import pytest

from grn.data.regulators import SHIPPED, regulators_in, tf_list
from grn.errors import InputError


def test_a_list_a_file_and_a_species_name_the_same_regulators(tmp_path):
    genes = ["GATA1", "ACTB", "SPI1", "CEBPA"]
    (tmp_path / "tfs.txt").write_text("# my TFs\nSPI1\nGATA1\n\n")
    assert regulators_in(["SPI1", "GATA1", "NOTHERE"], genes) == ["GATA1", "SPI1"]
    assert regulators_in(tmp_path / "tfs.txt", genes) == ["GATA1", "SPI1"]
    assert regulators_in("human", genes) == ["GATA1", "SPI1", "CEBPA"]  # ACTB is no TF
    assert {"Gata1", "Spi1"} <= set(tf_list("mouse")) and len(tf_list("human")) == 1644
    assert all(path.is_file() for path in SHIPPED.values())


def test_bad_tf_lists_are_named():
    with pytest.raises(InputError, match="neither a species keyword"):
        tf_list("zebrafish")
    with pytest.raises(InputError, match="TF list uses Ensembl IDs and the data's genes use symbols"):
        regulators_in(["ENSG00000102145", "ENSG00000066336"], ["GATA1", "SPI1"])
    with pytest.raises(InputError, match="only ignoring letter case"):
        regulators_in("mouse", ["GATA1", "SPI1"])
    with pytest.raises(InputError, match="no gene of the TF list"):
        regulators_in(["FOO"], ["GATA1"])
