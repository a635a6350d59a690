"""Transcription-factor lists: which genes may be regulators.

`tf_names` (the readout's `regulators` option) takes a list of symbols, a file of one symbol a line, or a
species keyword for the lists shipped in grn/data/tfs/ ("human": Lambert et al. 2018's 1,639 TFs plus
aliases; "mouse"; both taken from scPRINT 2.3.8's TFs.txt, MIT; see data/README.md). Regulators are the
listed genes present in the data, in the data's gene order.
"""
import re
from pathlib import Path

from grn.errors import InputError

SHIPPED = {species: Path(__file__).with_name("tfs") / f"{species}.txt" for species in ("human", "mouse")}
_ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}")


def tf_list(tf_names) -> list[str]:
    """The symbols a list, a file or a species keyword names."""
    if isinstance(tf_names, (str, Path)):
        if str(tf_names) in SHIPPED:
            tf_names = SHIPPED[str(tf_names)]
        path = Path(tf_names)
        if not path.is_file():
            raise InputError(f"TF list {str(tf_names)!r} is neither a species keyword ({sorted(SHIPPED)}) nor a file")
        return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return [str(name) for name in tf_names]


def regulators_in(tf_names, genes) -> list[str]:
    """The TFs of `tf_names` among `genes`, in gene order; an error naming the mismatch when none is there."""
    listed = set(tf_list(tf_names))
    present = [gene for gene in genes if gene in listed]
    if not present:
        raise InputError(f"no gene of the TF list is in the data ({len(listed)} TFs, {len(genes)} genes)"
                         f"{_naming_hint(listed, genes)}")
    return present


def _naming_hint(tfs, genes) -> str:
    """Why two lists may not meet: Ensembl IDs on one side and symbols on the other, or letter case."""
    convention = lambda names: "Ensembl IDs" if sum(bool(_ENSEMBL.match(n)) for n in names) > len(names) / 2 else "symbols"
    sides = convention(list(tfs)), convention(list(genes))
    if sides[0] != sides[1]:
        return f": the TF list uses {sides[0]} and the data's genes use {sides[1]}"
    if {t.upper() for t in tfs} & {g.upper() for g in genes}:
        return ": they match only ignoring letter case (human symbols are upper-case, mouse capitalised)"
    return ""
