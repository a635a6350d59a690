"""Drawing writes a valid SVG whose text shows the boxes, the wire axes, broadcasting and the normaliser,
and a valid PNG; a model made of named groups is drawn as an overview with each kind of group opened once."""
import xml.etree.ElementTree as ET

import matplotlib.image
import pytest

from ncd_layers import Axis, LayerNorm, Linear, TransformerAxes, draw, multi_head_attention, transformer_block

AX = TransformerAxes.make(8, 2)
SCREEN = 2000  # pixels: wider than this, a picture does not read on a laptop screen


def svg_texts(path):
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return [t.text.strip() for t in root.iter("{http://www.w3.org/2000/svg}text") if t.text]


@pytest.mark.parametrize("normaliser, label", [("l2", "L2"), ("softmax", "SoftMax")])
def test_svg_shows_axes_broadcasting_and_the_normaliser(tmp_path, normaliser, label):
    path = draw(multi_head_attention(AX, normaliser).over(Axis("b")), tmp_path / "attention.svg")
    texts = svg_texts(path)
    wire_labels = {t for t in texts if set(t) <= set("bxyhkm,")}
    assert {"b,x,m", "b,x,h,k", "b,y,h,k", "b,h,x,y"} <= wire_labels
    assert {"q", "k", "v", "o", "scores", "mix", label} <= set(texts)
    assert "over y" in texts                       # the normaliser names its axis
    assert {"∀ b,x", "∀ b", "∀ b,h,x"} <= set(texts)  # broadcast tags
    assert "x→y" in texts                          # tokens read as keys
    assert "attention core" in texts               # a group's frame label


def test_png_is_a_valid_image(tmp_path):
    path = draw(multi_head_attention(AX, "l2"), tmp_path / "attention.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[1] > image.shape[0] > 50


def test_other_extensions_are_refused(tmp_path):
    with pytest.raises(ValueError, match="svg or .png"):
        draw(multi_head_attention(AX, "l2"), tmp_path / "attention.pdf")


def model(depth, grouped=True, ax=TransformerAxes.make(64, 4)):
    """embedding -> block x depth -> head at the GRN model's default width, each part a named group
    (or, with grouped=False, the same boxes with no groups)."""
    x, m = ax.tokens, ax.width
    name = (lambda part, label: part.group(label)) if grouped else (lambda part, label: part)
    chain = name(Linear("embedding", (Axis("c", 2),), (m,)).over(x), "embedding")
    for i in range(depth):
        chain = chain >> name(transformer_block(ax, "l2", f"block{i + 1}_"), "block")
    return (chain >> name((LayerNorm("final_norm", axis=m) >> Linear("readout", (m,), ())).over(x), "head")
            ).over(Axis("b"))


def test_a_model_of_groups_is_an_overview_and_one_opened_block(tmp_path):
    texts = svg_texts(draw(model(3), tmp_path / "model.svg"))
    assert texts.count("block × 3") == 2            # the shut box in the overview and the opened frame
    assert {"embedding", "head"} <= set(texts)
    assert {"attention", "mlp", "attention core", "L2", "block1_q", "block1_up", "final_norm"} <= set(texts)
    assert not [t for t in texts if t.startswith(("block2_", "block3_"))]  # one block opened, not three


def test_a_single_group_has_no_repeat_count(tmp_path):
    texts = svg_texts(draw(model(1), tmp_path / "model.svg"))
    assert "block" in texts and not [t for t in texts if t.startswith("block ×")]


def test_the_model_picture_fits_a_screen_at_any_depth(tmp_path):
    shapes = [matplotlib.image.imread(draw(model(depth), tmp_path / f"model{depth}.png")).shape for depth in (2, 8)]
    assert shapes[0] == shapes[1]
    height, width, _ = shapes[0]
    assert 1000 < width <= SCREEN and height < width
    # Without its groups the same model is one strip, several screens wide: the groups make it read.
    strip = matplotlib.image.imread(draw(model(2, grouped=False), tmp_path / "strip.png"))
    assert strip.shape[1] > 2 * SCREEN
