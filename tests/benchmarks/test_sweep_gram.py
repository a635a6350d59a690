"""benchmarks.sweep_gram's candidates, on CPU (the timing itself needs a GPU)."""
import pytest

from benchmarks import sweep_gram
from kernels import flashsign_gram

TABLES = ("reduce", "reduce_backward", "rows", "rows_backward")


@pytest.mark.parametrize("head_dim", [16, 32, 64, 128])
def test_variations_change_what_their_labels_say(head_dim):
    tiles = flashsign_gram.TILES
    labelled = list(sweep_gram.variations(tiles, head_dim))
    labels = [label for label, _ in labelled]
    assert labels[0] == "TILES" and labelled[0][1] is tiles and len(set(labels)) == len(labels)
    for label, varied in labelled[1:]:
        changed = {table for table in TABLES if getattr(varied, table) != getattr(tiles, table)}
        if label.startswith(TABLES):  # one entry of one table, at this head dim only
            table, entry = label.split("=")
            assert changed == {table}
            assert str(getattr(varied, table)[head_dim]) == entry
            assert {d: e for d, e in getattr(varied, table).items() if d != head_dim} == {
                d: e for d, e in getattr(tiles, table).items() if d != head_dim}
        elif label.startswith("row_programs") and "," in label:  # both row maps change together
            assert changed == {"rows", "rows_backward"}
        else:
            assert not changed
    stages = {getattr(varied, table)[head_dim][3] for _, varied in labelled for table in ("rows", "rows_backward")}
    assert stages >= {1, 2}  # the row maps' pipeline is swept


def test_extra_candidates_change_several_entries_at_one_head_dim():
    head_dim, label, tiles = sweep_gram.extra_candidate("64:rows=64,64,8,2;rows_backward=64,64,8,2",
                                                        flashsign_gram.TILES)
    assert head_dim == 64 and label == "rows=64,64,8,2;rows_backward=64,64,8,2"
    assert tiles.rows[64] == tiles.rows_backward[64] == (64, 64, 8, 2)
    assert tiles.rows[16] == flashsign_gram.TILES.rows[16]
    assert tiles.reduce == flashsign_gram.TILES.reduce
    for bad in ("64:rowz=64,64,8,2", "64:rows=64,64,8"):
        with pytest.raises(ValueError, match="is not a tile table"):
            sweep_gram.extra_candidate(bad, flashsign_gram.TILES)
