"""flashsign(method="auto") picks a kernel form by shape, where it measured faster on an H100 GPU
(results/kernels/TUNING.md): the Gram form for heads up to 128 wide from a number of keys that depends on
the head dim and on whether a backward follows, the streamed form elsewhere."""
import pytest
import torch

import kernels.flashsign_api as api
from kernels.reference import spherical_attention_reference


@pytest.fixture
def taken(monkeypatch):
    """The forms flashsign sends calls to, recorded instead of run, on the kernel path as on CUDA."""
    forms = []
    monkeypatch.setattr(api, "attend", lambda form, *args: forms.append(form.name))
    monkeypatch.setattr(api, "INTERPRETED", True)
    return forms


@pytest.mark.parametrize("shape, inference, training", [
    ((1, 1, 191, 16), "stream", "stream"), ((1, 1, 192, 16), "stream", "gram"),
    ((1, 1, 511, 16), "stream", "gram"), ((1, 1, 512, 16), "gram", "gram"),
    ((1, 1, 447, 32), "stream", "stream"), ((1, 1, 448, 32), "stream", "gram"),
    ((1, 1, 1024, 32), "gram", "gram"), ((1, 1, 639, 64), "stream", "stream"),
    ((1, 1, 640, 64), "stream", "gram"), ((1, 1, 896, 64), "gram", "gram"),
    ((1, 1, 1024, 128), "stream", "stream"), ((1, 1, 1536, 128), "stream", "gram"),
    ((1, 1, 2559, 128), "stream", "gram"), ((2, 3, 4096, 128), "gram", "gram"),
    ((1, 1, 8192, 256), "stream", "stream")])
def test_auto_takes_the_measured_faster_form(taken, shape, inference, training):
    q = torch.empty(shape)
    api.flashsign(q, q, q)
    k = torch.empty(shape, requires_grad=True)  # a backward will follow
    api.flashsign(q, k, q)
    with torch.no_grad():  # ... unless autograd is off
        api.flashsign(q, k, q)
    assert taken == [inference, training, inference]


@pytest.mark.parametrize("method, n", [("stream", 4096), ("gram", 16)])
def test_an_explicit_method_overrides_the_choice(taken, method, n):
    q = torch.empty(1, 1, n, 16, requires_grad=True)
    api.flashsign(q, q, q, method=method)
    assert taken == [method]


def test_unknown_method_is_named():
    q = torch.zeros(1, 1, 8, 16)
    with pytest.raises(ValueError, match="method must be one of"):
        api.flashsign(q, q, q, method="fast")


@pytest.mark.parametrize("n_keys, form", [(32, "reference"), (33, "gram")])
def test_cpu_without_the_interpreter_takes_the_torch_gram_form_past_2d_keys(monkeypatch, n_keys, form):
    """Plain-torch CPU calls: the O(N^2 D) reference up to 2 D keys, the O(N D^2) Gram form beyond; both
    equal the float64 reference, gradients included."""
    monkeypatch.setattr(api, "INTERPRETED", False)
    called = []
    for name in ("spherical_attention_gram", "spherical_attention_reference"):
        original = getattr(api, name)
        monkeypatch.setattr(api, name, lambda *args, _f=original, _n=name: called.append(_n) or _f(*args))
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 2, n_keys, 16, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = torch.rand(2, n_keys) > 0.3
    out = api.flashsign(q, k, v, mask)
    assert called == [f"spherical_attention_{form}"]
    expected = spherical_attention_reference(q, k, v, mask)
    torch.testing.assert_close(out, expected)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    torch.testing.assert_close(grads, torch.autograd.grad(expected.square().sum(), (q, k, v)))
