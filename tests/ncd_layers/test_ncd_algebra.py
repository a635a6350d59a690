"""The diagram algebra: typed composition, products, broadcasting, and the lowering of each box kind."""
import pytest
import torch

from ncd_layers import (Axis, CompositionError, Contraction, Elementwise, LayerNorm, Linear, Lookup, add, copy,
                        identity, lower, normalise, rename)

b, x, y = Axis("b"), Axis("x"), Axis("y")
m, h, k, d = Axis("m", 6), Axis("h", 2), Axis("k", 3), Axis("d", 3)


def test_composition_types_and_products():
    q = Linear("q", (m,), (h, k)).over(x)
    o = Linear("o", (h, k), (m,)).over(x)
    assert (q >> o).inputs == ((x, m),) and (q >> o).outputs == ((x, m),)
    pair = q @ identity((x, m))
    assert pair.inputs == ((x, m), (x, m)) and pair.outputs == ((x, h, k), (x, m))
    assert [box.name for box in (copy((x, m)) >> pair).boxes()] == ["copy", "q", "id"]


def test_mismatched_composition_names_both_boxes_and_the_axes():
    q = Linear("q_map", (m,), (h, k)).over(x)
    o = Linear("out_map", (h, d), (m,)).over(x)
    with pytest.raises(CompositionError) as err:
        q >> o
    message = str(err.value)
    assert "'q_map'" in message and "'out_map'" in message
    assert "offending axes: k=3 vs d=3" in message


def test_mismatched_wire_count_names_both_boxes():
    with pytest.raises(CompositionError, match=r"'copy' >> 'o'.*2 wire\(s\).*1 wire\(s\)"):
        copy((x, m)) >> Linear("o", (m,), (m,)).over(x)


def test_mismatched_sizes_and_order_are_reported():
    wide = Axis("m", 8)
    with pytest.raises(CompositionError, match="m=6 vs m=8"):
        Linear("a", (m,), (m,)) >> Linear("b", (wide,), (m,))
    with pytest.raises(CompositionError, match="different order"):
        Linear("a", (m,), (h, k)) >> Linear("b", (k, h), (m,))


def test_composition_error_inside_products_names_the_inner_boxes():
    left = Linear("left", (m,), (k,)) @ Linear("right", (m,), (h,))
    with pytest.raises(CompositionError, match="'right' >> 'second'.*offending axes: h=2 vs k=3"):
        left >> (Linear("first", (k,), (m,)) @ Linear("second", (k,), (m,)))


def test_broadcasting_prepends_axes_and_rejects_repeats():
    q = Linear("q", (m,), (h, k))
    assert q.over(b, x).inputs == ((b, x, m),) and q.over(b).over(x).inputs == ((x, b, m),)
    with pytest.raises(ValueError, match="repeats an axis"):
        q.over(x).over(x)


def test_broadcast_linear_map_equals_a_loop_over_the_broadcast_axes():
    torch.manual_seed(0)
    box = Linear("q", (m,), (h, k))
    single, broadcast = lower(box), lower(box.over(b, x))
    broadcast.load_state_dict(single.state_dict())
    t = torch.randn(4, 5, 6, dtype=torch.float64)
    single.double(), broadcast.double()
    looped = torch.stack([torch.stack([single(t[i, j]) for j in range(5)]) for i in range(4)])
    assert torch.allclose(broadcast(t), looped, atol=1e-12)
    w, bias = single.maps["q"].weight, single.maps["q"].bias
    assert torch.allclose(looped, (t @ w.T + bias).reshape(4, 5, 2, 3), atol=1e-12)


def test_broadcast_contraction_equals_per_slice_matrix_products():
    scores = Contraction("scores", ((x, k), (y, k)), (x, y), scale=0.5).over(b, h)
    a, c = torch.randn(2, 2, 4, 3, dtype=torch.float64), torch.randn(2, 2, 5, 3, dtype=torch.float64)
    out = lower(scores)(a, c)
    for i in range(2):
        for j in range(2):
            assert torch.allclose(out[i, j], 0.5 * a[i, j] @ c[i, j].T, atol=1e-12)
    assert scores.contracted == (k,)


def test_product_module_runs_its_parts_side_by_side():
    torch.manual_seed(0)
    pair = Elementwise("tanh", wire=(x, m)) @ LayerNorm("norm", axis=m).over(x)
    a, c = torch.randn(4, 6), torch.randn(4, 6)
    first, second = lower(pair)(a, c)
    assert torch.allclose(first, torch.tanh(a))
    expected = (c - c.mean(-1, keepdim=True)) / torch.sqrt(c.var(-1, unbiased=False, keepdim=True) + 1e-5)
    assert torch.allclose(second, expected, atol=1e-5)


def test_copy_rename_and_add_route_without_computing():
    diagram = copy((x, m), 3) >> (identity((x, m)) @ rename((x, m), x, y) @ identity((x, m)))
    assert diagram.outputs == ((x, m), (y, m), (x, m))
    t = torch.randn(4, 6)
    assert all(out is t for out in lower(diagram)(t))
    summed = copy((x, m)) >> add((x, m))
    assert torch.equal(lower(summed)(t), 2 * t)


def test_lookup_reads_rows_of_a_named_table():
    genes = Axis("g", 10, index=True)
    table = Lookup("embedding", vocabulary=genes, out_axes=(h, k)).over(b, x)
    assert table.inputs == ((b, x, genes),)
    module = lower(table)
    ids = torch.tensor([[1, 7], [3, 3]])
    expected = module.maps["embedding"].weight[ids].reshape(2, 2, 2, 3)
    assert torch.equal(module(ids), expected)


def test_boxes_with_one_name_share_parameters_and_conflicts_are_rejected():
    twice = Linear("shared", (m,), (m,)).over(x) >> Linear("shared", (m,), (m,)).over(x)
    module = lower(twice)
    assert len(list(module.parameters())) == 2
    t = torch.randn(4, 6)
    layer = module.maps["shared"]
    assert torch.allclose(module(t), layer(layer(t)))
    with pytest.raises(ValueError, match="two different boxes are named 'shared'"):
        lower(Linear("shared", (m,), (m,)) >> Linear("shared", (m,), (m,), bias=False))


def test_bad_boxes_and_inputs_are_rejected_with_clear_errors():
    with pytest.raises(ValueError, match="unknown normaliser 'sparsemax'.*'l2', 'softmax'"):
        normalise(y, "sparsemax")
    with pytest.raises(ValueError, match="unknown elementwise function 'swish'"):
        Elementwise("swish", wire=(m,))
    with pytest.raises(ValueError, match="appear in no input"):
        Contraction("bad", ((x, k),), (y,))
    with pytest.raises(ValueError, match="differ in size"):
        rename((m,), m, Axis("n", 7))
    with pytest.raises(ValueError, match="free axes"):
        lower(Linear("q", (x,), (m,)))
    with pytest.raises(ValueError, match=r"input 0 must carry x, m=6.*got shape \(4, 5\)"):
        lower(Linear("q", (m,), (m,)).over(x))(torch.randn(4, 5))


def test_normalisers_on_their_own():
    s = torch.randn(3, 5, dtype=torch.float64)
    assert torch.allclose(lower(normalise(y, "softmax").over(x))(s), torch.softmax(s, -1))
    l2 = lower(normalise(y, "l2").over(x))(s)
    assert torch.allclose(l2, s / torch.sqrt((s * s).sum(-1, keepdim=True) + 1e-6), atol=1e-12)
    assert torch.allclose((l2 * l2).sum(-1), torch.ones(3, dtype=torch.float64), atol=1e-6)
    assert torch.equal(torch.sign(l2), torch.sign(s))  # spherical weights keep their sign


def test_groups_are_transparent_except_when_drawn():
    inner = Linear("a", (m,), (h, k)).over(x) >> Linear("b", (h, k), (m,)).over(x)
    grouped = inner.group("pair").over(b)
    assert grouped.inputs == ((b, x, m),) and [box.name for box in grouped.boxes()] == ["a", "b"]
    torch.manual_seed(0)
    plain = lower(inner.over(b))
    framed = lower(grouped)
    framed.load_state_dict(plain.state_dict())
    t = torch.randn(2, 4, 6)
    assert torch.equal(framed(t), plain(t))
    with pytest.raises(CompositionError, match="'b' >> 'c'"):
        grouped >> Linear("c", (h,), (m,)).over(b, x)
