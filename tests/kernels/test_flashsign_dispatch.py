"""flashsign(method="auto") picks a kernel form by shape, where it measured faster on an H100 GPU
(results/kernels/TUNING.md): the Gram form for heads up to 128 wide from a number of keys that depends on
the head dim and on whether a backward follows, the streamed form elsewhere."""
import pytest
import torch

import kernels.flashsign_api as api


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
