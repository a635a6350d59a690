"""kernels.replay records a FlashSign call's allocations and launches once, and replays later
calls of the same case from C++ (kernels/replay.cpp), forward and backward.

On CPU the extension is built for real and replays a stand-in form: its "kernels" copy one buffer
into another, and the launch function handed to C++ is a Python stand-in that does that copy and
notes every argument it was given. So the C++ argument packing, slots, outputs and autograd node are
checked against what Python launched, without a GPU. On a GPU the real kernels are replayed and
compared with the float64 reference.
"""
import ctypes
import struct
from types import SimpleNamespace

import pytest
import torch

import kernels.flashsign_api as api
from kernels import flashsign, replay, spherical_attention_reference
from kernels import triton_common as common
from test_flashsign import TOLERANCE, relative_error
from test_flashsign import poisoned_outputs  # noqa: F401  (autouse: outputs start as NaN, replayed ones too)

# The cuLaunchKernel signature the extension calls.
LAUNCH_FUNCTION = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, *[ctypes.c_uint] * 7, ctypes.c_void_p,
                                   ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p)


class CopyKernel:
    """Stands in for a Triton kernel and, once "compiled", for its CompiledKernel: copies `nbytes`
    from SRC to DST. `scale` and `rows` ride along to check how floats and ints are packed; `one` is
    specialised away as Triton does with a 1, and BLOCK is a meta-parameter."""
    arg_names = ["SRC", "DST", "nbytes", "scale", "rows", "one", "BLOCK"]
    __name__ = "copy_kernel"
    src = SimpleNamespace(signature={"SRC": "*fp32", "DST": "*fp32", "nbytes": "i64", "scale": "fp32",
                                     "rows": "i32", "one": "constexpr", "BLOCK": "constexpr"})
    metadata = SimpleNamespace(num_warps=4, shared=1536, num_ctas=1, global_scratch_size=0)

    def __init__(self, function):
        self.function = function  # the handle the launch function receives

    def __getitem__(self, grid):
        def jit_launch(src, dst, nbytes, *rest, **meta):
            ctypes.memmove(dst.data_ptr(), src.data_ptr(), nbytes)
            return self
        return jit_launch


FORWARD, BACKWARD_Q, BACKWARD_K, BACKWARD_V = (CopyKernel(handle) for handle in (11, 12, 13, 14))


def copy(kernel, src, dst, scale=0.375, rows=-7):
    common.launch(kernel, (3, 2), (src, dst), (dst.numel() * dst.element_size(), scale, rows, 1), BLOCK=64)


def copy_forward(q, k, v, key_padding_mask, eps):
    """O = Q, with a second output (K's first six elements) as the state saved for backward."""
    o = common.empty(q.shape, q.dtype, q.device)
    copy(FORWARD, q, o)
    state = common.empty((2, 3), torch.float32, q.device)
    copy(FORWARD, k, state)
    return o, state


def copy_backward(q, k, v, key_padding_mask, o, state, do):
    """dQ = dO, dK = K, dV = O: each from a different kind of slot (the dO input, a saved input, a
    saved output)."""
    dq, dk, dv = (common.empty(q.shape, q.dtype, q.device) for _ in range(3))
    copy(BACKWARD_Q, do, dq)
    copy(BACKWARD_K, k, dk, scale=-2.5, rows=1 << 20)
    copy(BACKWARD_V, o, dv)
    return dq, dk, dv


COPY_FORM = api.Form("copy", copy_forward, copy_backward)


@pytest.fixture(scope="module")
def extension():
    return replay.build()


@pytest.fixture
def stand_in_launches(extension, monkeypatch):
    """Replays CPU calls through the built extension, launching through the Python stand-in; returns
    the launches it saw: (function, grid, threads, shared bytes, raw 8-byte arguments)."""
    seen = []

    def launch(function, gx, gy, gz, bx, by, bz, shared, stream, params, extra):
        arguments = 5 + 2  # SRC, DST, nbytes, scale, rows; then Triton's two scratch pointers
        raw = [ctypes.c_uint64.from_address(params[i]).value for i in range(arguments)]
        seen.append((function, (gx, gy, gz), (bx, by, bz), shared, raw))
        ctypes.memmove(raw[1], raw[0], raw[2])
        return 0

    callback = LAUNCH_FUNCTION(launch)
    extension.set_launcher(ctypes.cast(callback, ctypes.c_void_p).value)
    monkeypatch.setattr(replay, "_extension", lambda: extension)
    monkeypatch.setattr(replay, "_DEVICE", "cpu")
    monkeypatch.setattr(common, "INTERPRETED", False)
    monkeypatch.setattr(common, "DIRECT_LAUNCH", True)
    monkeypatch.setattr(common, "_compiled", {})
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    yield seen
    if torch.cuda.is_available():  # the extension is the process's one: give it back its driver
        extension.set_launcher(replay.driver_launch_function())


def make_inputs(shape=(2, 3, 5, 4)):
    return [torch.randn(shape, requires_grad=True) for _ in range(3)]


def test_a_second_call_replays_both_passes_from_cpp(stand_in_launches):
    q, k, v = make_inputs()
    grad_out = torch.randn(q.shape)
    for call in range(2):
        q, k, v = make_inputs()
        out = api.attend(COPY_FORM, q, k, v, None, 1e-6)
        out.backward(grad_out)
        replayed = "Replayed" in out.grad_fn.name()
        assert replayed == (call == 1), out.grad_fn.name()
        torch.testing.assert_close(out, q, rtol=0, atol=0)
        for grad, expected in ((q.grad, grad_out), (k.grad, k), (v.grad, q)):
            torch.testing.assert_close(grad, expected.detach(), rtol=0, atol=0)
    # The replayed launches, in order, with the replayed call's addresses and the recorded scalars.
    functions = [launch[0] for launch in stand_in_launches]
    assert functions == [11, 11, 12, 13, 14]
    nbytes = q.numel() * 4
    fwd_o, fwd_state, dq, dk, dv = stand_in_launches
    assert fwd_o[1:4] == ((3, 2, 1), (128, 1, 1), 1536)
    assert fwd_o[4][0] == q.data_ptr() and fwd_o[4][1] == out.data_ptr()
    assert fwd_o[4][2:] == [nbytes, struct.unpack("<I", struct.pack("<f", 0.375))[0], 2**32 - 7, 0, 0]
    assert fwd_state[4][0] == k.data_ptr()
    assert dq[4][1] == q.grad.data_ptr() and dk[4][0] == k.data_ptr()
    assert dk[4][3:5] == [struct.unpack("<I", struct.pack("<f", -2.5))[0], 1 << 20]
    assert dv[4][0] == out.data_ptr()


def test_replayed_backward_takes_any_grad_output_layout(stand_in_launches):
    for _ in range(2):
        q, k, v = make_inputs()
        out = api.attend(COPY_FORM, q, k, v, None, 1e-6)
        out.sum().backward()  # dO is a stride-0 expansion of a scalar
    assert "Replayed" in out.grad_fn.name()
    torch.testing.assert_close(q.grad, torch.ones_like(q), rtol=0, atol=0)


def test_a_new_layout_or_mask_is_a_new_case(stand_in_launches):
    q, k, v = make_inputs()
    mask = torch.ones(2, 5, dtype=torch.bool)
    calls = [(q, k, v, None), (q, k, v, None), (q.transpose(2, 3), k.transpose(2, 3), v.transpose(2, 3), None),
             (q, k, v, mask), (q, k, v, mask)]
    outs = [api.attend(COPY_FORM, *call, 1e-6) for call in calls]
    assert not any("Replayed" in out.grad_fn.name() for out in outs)  # no backward recorded: all in Python
    with torch.no_grad():  # the forward plans alone serve calls without a backward
        replayed = [api.attend(COPY_FORM, *call, 1e-6) for call in calls]
    assert len(stand_in_launches) == 2 * len(calls)
    for out, again in zip(outs, replayed):
        assert again.shape == out.shape
        torch.testing.assert_close(again, out.detach(), rtol=0, atol=0)


def test_shared_inputs_are_never_replayed(stand_in_launches):
    for _ in range(3):
        q, _, v = make_inputs()
        out = api.attend(COPY_FORM, q, q, v, None, 1e-6)  # k is q: a plan would bind both to one slot
        out.backward(torch.ones_like(out))
    assert "Replayed" not in out.grad_fn.name() and not stand_in_launches


def test_a_plan_naming_an_unknown_slot_is_refused(extension):
    with pytest.raises(ValueError, match="unknown slot 9"):
        extension.add_plan(4, [("launch", 1, (1, 1, 1), 32, 0, [(0, 9)])], [0])


# ------------------------------------------------------------------------------------------------
# GPU: the real kernels, replayed
# ------------------------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("method", ["stream", "gram"])
@pytest.mark.parametrize("dtype", list(TOLERANCE))
@pytest.mark.parametrize("shape, masked, strided", [((2, 3, 200, 16), False, False), ((2, 4, 1000, 64), True, False),
                                                    ((1, 2, 333, 32), True, True), ((1, 2, 3000, 128), False, True)])
def test_gpu_replay_matches_float64(method, dtype, shape, masked, strided):
    for call in range(2):
        q, k, v = (torch.randn(shape, device="cuda", dtype=dtype) for _ in range(3))
        if strided:  # (B, N, H, D) memory seen as (B, H, N, D)
            q, k, v = (x.transpose(1, 2).contiguous().transpose(1, 2) for x in (q, k, v))
        q, k, v = (x.requires_grad_() for x in (q, k, v))
        mask = torch.rand(shape[0], shape[2], device="cuda") > 0.3 if masked else None
        grad_out = torch.randn(shape, device="cuda", dtype=dtype)
        out = flashsign(q, k, v, mask, method=method)
        out.backward(grad_out)
        assert ("Replayed" in out.grad_fn.name()) == (call == 1)
    exact = [x.detach().double().requires_grad_() for x in (q, k, v)]
    expected = spherical_attention_reference(*exact, mask)
    expected.backward(grad_out.double())
    for actual, wanted in ((out, expected), *((x.grad, e.grad) for x, e in zip((q, k, v), exact))):
        assert relative_error(actual, wanted.detach()) < TOLERANCE[dtype]


@pytest.mark.gpu
def test_gpu_replay_is_captured_by_cuda_graphs():
    q, k, v = (torch.randn(2, 4, 512, 64, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    flashsign(q, k, v)
    flashsign(q, k, v)  # recorded, then replayed
    graph = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.cuda.graph(graph, stream=stream):
        out = flashsign(q, k, v)
    graph.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(out, api.flashsign(q, k, v), rtol=0, atol=0)
