"""Pieces the FlashSign kernels share: the interpreter switch, an fp32-accumulating dot, a cheap
kernel launch, output allocation, the key-mask arguments and the sum of chunk partials. Launches and allocations go through here, so kernels.replay
can record them."""
import contextlib
import os
import threading

import torch
import triton
import triton.language as tl

# Triton decides at decoration time whether kernels run on the interpreter.
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"

# The interpreter multiplies bf16 operands as raw bits (triton 3.9), so there dots run on fp32
# upcasts; the products of fp16/bf16 values are exact in fp32, so results match the GPU path.
_UPCAST_DOTS = tl.constexpr(INTERPRETED)


@triton.jit
def dot(a, b, acc, PRECISION: tl.constexpr):
    """a @ b (+ acc) with an fp32 accumulator."""
    if _UPCAST_DOTS:
        return tl.dot(a.to(tl.float32), b.to(tl.float32), acc, input_precision="ieee")
    else:
        return tl.dot(a, b, acc, input_precision=PRECISION)


@triton.jit
def sum_chunks_kernel(PARTIAL, OUT, chunks, size, BLOCK: tl.constexpr):
    """OUT[i] = sum over c of PARTIAL[c * size + i], fp32, in chunk order (deterministic)."""
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = offsets < size
    total = tl.load(PARTIAL + offsets, mask=ok, other=0.0)
    for chunk in range(1, chunks):
        total += tl.load(PARTIAL + chunk * size + offsets, mask=ok, other=0.0)
    tl.store(OUT + offsets, total, mask=ok)


_recording = threading.local()  # .recorder: the kernels.replay recorder of this thread's call, if any


@contextlib.contextmanager
def recording(recorder):
    """Hands this thread's launches and allocations to `recorder` (None: to nobody)."""
    previous = getattr(_recording, "recorder", None)
    _recording.recorder = recorder
    try:
        yield
    finally:
        _recording.recorder = previous


def _recorder():
    return getattr(_recording, "recorder", None)


_compiled = {}
_MAX_COMPILED = 4096
# From triton 3.3 a compiled kernel's launcher takes every argument, constexprs included, in
# signature order; older ones are launched through the JIT on every call.
DIRECT_LAUNCH = tuple(int(part) for part in triton.__version__.split(".")[:2]) >= (3, 3)


def launch(kernel, grid, tensors, scalars, **meta):
    """kernel[grid](*tensors, *scalars, **meta), with Triton's argument analysis done once per case.

    Triton's JIT front end re-derives every argument's specialisation on each call, which for these
    kernels' 30-odd arguments costs the host most of a 1024-key forward's GPU time
    (results/kernels/TUNING.md). The compiled kernel it returns is kept under a key at least as fine
    as Triton's own (the exact scalars and their types, each tensor's dtype and alignment, the
    meta-parameters, the device), so later calls with that key launch it directly. Kernels take their tensors first, then scalars, then constexprs.
    A direct launch skips Triton's per-call extras: pre-run hooks and debug knobs changed at run time.
    """
    args = (*tensors, *scalars)
    grid = (*grid, 1, 1)[:3]
    if INTERPRETED or not DIRECT_LAUNCH:
        kernel[grid](*args, **meta)
        return
    key = (kernel, torch.cuda.current_device(), scalars, tuple(map(type, scalars)), tuple(meta.items()),
           tuple((t.dtype, t.data_ptr() % 16) for t in tensors))
    hit = _compiled.get(key)
    if hit is None:
        compiled = kernel[grid](*args, **meta)
        if len(_compiled) >= _MAX_COMPILED:
            _compiled.clear()
        _compiled[key] = (compiled, tuple(meta[name] for name in kernel.arg_names[len(args):]))
    else:
        compiled, constexprs = hit
        compiled[grid](*args, *constexprs)
    recorder = _recorder()
    if recorder is not None:
        recorder.launch(kernel, compiled, grid, args)


def empty(shape, dtype, device):
    """Every kernel output is allocated here (tests poison it to catch unwritten elements)."""
    out = torch.empty(shape, dtype=dtype, device=device)
    recorder = _recorder()
    if recorder is not None:
        recorder.alloc(out)
    return out


def sum_chunks(partial):
    """The chunk partials of a reduction, (chunks, ...) contiguous fp32, summed over chunks. A Triton
    kernel rather than torch.sum: a replayed call then launches it directly, without ATen's dispatch."""
    if partial.shape[0] == 1:
        return partial[0]  # a view: its address is the partials', already known to a recorder
    out = empty(partial.shape[1:], torch.float32, partial.device)
    block = 1024
    launch(sum_chunks_kernel, (triton.cdiv(out.numel(), block),), (partial, out), (partial.shape[0], out.numel()),
           BLOCK=block)
    return out


def grad_output(do):
    """dO as the backward kernels take it, contiguous and 16-byte aligned (so a replayed backward
    can rely on its strides and alignment)."""
    do = do.contiguous()
    return do if do.data_ptr() % 16 == 0 else do.clone()


def mask_args(key_padding_mask, q):
    """The mask as an int8 view plus its strides; a dummy pointer when there is no mask."""
    if key_padding_mask is None:
        return q, 0, 0
    keep = key_padding_mask.view(torch.int8)
    return keep, keep.stride(0), keep.stride(1)
