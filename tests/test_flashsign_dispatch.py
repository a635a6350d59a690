"""flashsign(method="auto") picks a kernel form per pass by shape, where each measured faster on an H100
GPU (kernels/BENCHMARKS.md): the Gram form for long sequences of heads up to 128 wide, the streamed
forward with the Gram backward at 1024 to 2047 keys, the streamed form elsewhere."""
import pytest
import torch

import kernels.flashsign_triton as fs


@pytest.fixture
def taken(monkeypatch):
    """The methods flashsign sends calls to, recorded instead of run, on the kernel path as on CUDA."""
    methods = []
    monkeypatch.setattr(fs.gram_form, "flashsign_gram", lambda *args: methods.append("gram"))
    monkeypatch.setattr(fs._FlashSign, "apply",
                        lambda *args: methods.append("hybrid" if args[-1] else "stream"))
    monkeypatch.setattr(fs, "INTERPRETED", True)
    return methods


@pytest.mark.parametrize("shape, method", [((1, 1, 2048, 16), "gram"), ((2, 3, 4096, 128), "gram"),
                                           ((1, 1, 1024, 64), "hybrid"), ((1, 1, 2047, 16), "hybrid"),
                                           ((1, 1, 1023, 64), "stream"), ((1, 1, 8192, 256), "stream")])
def test_auto_takes_the_measured_faster_form(taken, shape, method):
    q = torch.empty(shape)
    fs.flashsign(q, q, q)
    assert taken == [method]


@pytest.mark.parametrize("method, n", [("stream", 4096), ("gram", 16), ("hybrid", 16)])
def test_an_explicit_method_overrides_the_choice(taken, method, n):
    q = torch.empty(1, 1, n, 16)
    fs.flashsign(q, q, q, method=method)
    assert taken == [method]


def test_unknown_method_is_named():
    q = torch.zeros(1, 1, 8, 16)
    with pytest.raises(ValueError, match="method must be one of"):
        fs.flashsign(q, q, q, method="fast")
