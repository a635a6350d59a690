"""Drawing writes a valid SVG whose text shows the boxes, the wire axes, broadcasting and the normaliser,
and a valid PNG."""
import xml.etree.ElementTree as ET

import matplotlib.image
import pytest

from ncd_layers import Axis, TransformerAxes, draw, multi_head_attention

AX = TransformerAxes.make(8, 2)


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
