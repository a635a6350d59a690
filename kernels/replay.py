"""Records a FlashSign call's launches once and replays later calls of the same case from C++.

A FlashSign call is cheap on the GPU at a thousand keys or so (tens of microseconds) but costs more
on the host: Python picks tiles and allocates outputs, Triton's launcher packs 30-odd arguments per
kernel, and a Python autograd node costs the engine a trip back into Python. So the first call of a
case (form, shapes, strides, dtype, 16-byte alignment, mask layout, eps, device) runs in Python and
records what it does: every output allocation and every compiled kernel launched with its
arguments (`record`, called by the autograd Function in kernels/flashsign_api.py). Its backward is
recorded the same way. Later calls of the case replay both from C++ (kernels/replay.cpp, `replay`):
one call into the extension, a C++ autograd node, and cuLaunchKernel on the recorded kernels. The
kernels and their arguments are the ones Python chose, so results are identical.

The extension is built on first use by torch.utils.cpp_extension (a C++ compiler and ninja; about 30 s,
then cached). Without it, or with FLASHSIGN_REPLAY=0, every call runs in Python as before.

Caveats:
- A case is keyed by the form (its forward and backward functions, so a form built with other tiles
  is another case) and what its launch path decides on, not by module-level tables it reads: tests
  that change those start from no plans (tests/conftest.py).
- Calls whose inputs share an address (q is k), or whose kernels need Triton launch features the
  replay does not make (clusters, scratch memory), are never recorded and always run in Python.
"""
import ctypes
import functools
import logging
import os
import struct
import warnings
from pathlib import Path

import torch

from kernels import triton_common as common

log = logging.getLogger(__name__)

# Argument kinds, as kernels/replay.cpp reads them.
_SLOT, _INT32, _INT64, _FLOAT32 = range(4)
_INT_KINDS = {"i32": _INT32, "i64": _INT64}
# Plan states besides an extension plan id (>= 0).
_UNRECORDED, _REFUSED = -2, -1
# The two plans of a case, by index.
FORWARD, BACKWARD = 0, 1
# The device whose calls are replayed (tests replay CPU tensors through a stand-in launch function).
_DEVICE = "cuda"


class Recorder:
    """Records one call's steps as a plan over slots: the call's inputs first (None: an input it
    does not have), then one slot per allocation, in order. A pointer argument must be
    some slot's address; anything else refuses the recording."""

    def __init__(self, inputs):
        self.inputs = len(inputs)
        self.steps, self.refused = [], None
        self._slots, self._alive = {}, []  # address -> slot; the recorded tensors, kept alive
        self._kernels = []  # the compiled kernels launched
        for slot, tensor in enumerate(inputs):
            if tensor is not None:
                self._bind(tensor, slot)
        self._next = self.inputs

    def refuse(self, why):
        self.refused = self.refused or why

    def _bind(self, tensor, slot):
        if tensor.data_ptr() in self._slots:
            self.refuse("two tensors at one address")
        self._slots[tensor.data_ptr()] = slot
        self._alive.append(tensor)

    def _slot(self, tensor):
        slot = self._slots.get(tensor.data_ptr())
        if slot is None:
            self.refuse("a tensor made outside the recording")
        return slot

    def alloc(self, tensor):
        self.steps.append(("alloc", tuple(tensor.shape), tensor.dtype))
        self._bind(tensor, self._next)
        self._next += 1

    def launch(self, kernel, compiled, grid, args):
        meta = compiled.metadata
        if (getattr(meta, "num_ctas", 1) != 1 or getattr(meta, "global_scratch_size", 0)
                or getattr(meta, "profile_scratch_size", 0) or getattr(meta, "launch_cooperative_grid", False)
                or getattr(meta, "launch_pdl", False)):
            return self.refuse(f"{kernel.__name__} needs a launch feature the replay does not make")
        values = dict(zip(kernel.arg_names, args))
        packed = []
        for name, kind in compiled.src.signature.items():
            if kind == "constexpr":  # meta-parameters, and scalars Triton specialised (== 1)
                continue
            value = values[name]
            if kind.startswith("*"):
                packed.append((_SLOT, self._slot(value)))
            elif kind == "fp32":
                packed.append((_FLOAT32, struct.unpack("<I", struct.pack("<f", value))[0]))
            elif kind in _INT_KINDS:
                packed.append((_INT_KINDS[kind], int(value)))
            else:
                return self.refuse(f"{kernel.__name__}: argument {name} of type {kind}")
        self.steps.append(("launch", compiled.function, grid, 32 * meta.num_warps, meta.shared, packed))
        self._kernels.append(compiled)

    def plan(self, outputs):
        """The recorded plan's id in the extension, or _REFUSED."""
        slots = [self._slot(tensor) for tensor in outputs]
        if self.refused is not None:
            log.info("flashsign replay: not recorded (%s)", self.refused)
            return _REFUSED
        _replayed_kernels.update(self._kernels)  # their modules (and function handles) stay loaded
        return _extension().add_plan(self.inputs, self.steps, slots)


_replayed_kernels = set()
_plans = {}  # case -> [forward plan, backward plan]: ids, _UNRECORDED or _REFUSED


def case_of(form, q, k, v, key_padding_mask, eps):
    """What the launch path decides on, or None where calls are not replayed."""
    if q.device.type != _DEVICE or not available():
        return None
    key = (form, q.device.index, q.dtype, q.shape, q.stride(), k.stride(), v.stride(), eps,
           q.data_ptr() % 16, k.data_ptr() % 16, v.data_ptr() % 16)
    if key_padding_mask is not None:
        key += (key_padding_mask.stride(), key_padding_mask.data_ptr() % 16)
    return key


def replayable(case, with_backward):
    """Whether `case` was recorded: its forward, and its backward too when one will follow."""
    plans = _plans.get(case)
    return plans is not None and plans[FORWARD] >= 0 and (plans[BACKWARD] >= 0 or not with_backward)


def replay(case, q, k, v, key_padding_mask):
    """O from the recorded plans, launched from C++; its autograd node is C++ when a backward was recorded."""
    forward, backward = _plans[case]
    return _extension().attend(q, k, v, key_padding_mask, forward, backward)


def record(case, step, inputs, run):
    """run()'s outputs. Its allocations and launches become `case`'s FORWARD or BACKWARD plan (`step`)
    where that plan is unrecorded (a backward's only once the forward's is recorded). `inputs` are the
    tensors C++ hands a replayed pass, in its order (None: an absent mask; a bool mask as its int8 view)."""
    plans = _plans.setdefault(case, [_UNRECORDED, _UNRECORDED]) if case is not None else None
    recorder = None
    if plans is not None and plans[step] == _UNRECORDED and (step == FORWARD or plans[FORWARD] >= 0):
        recorder = Recorder([x.view(torch.int8) if x is not None and x.dtype == torch.bool else x for x in inputs])
    with common.recording(recorder):
        outputs = run()
    if recorder is not None:
        plans[step] = recorder.plan(outputs)
    return outputs


def build():
    """Builds kernels/replay.cpp (once; torch caches it under TORCH_EXTENSIONS_DIR) and imports it."""
    from torch.utils import cpp_extension
    return cpp_extension.load(name="flashsign_replay", sources=[str(Path(__file__).with_name("replay.cpp"))],
                              extra_cflags=["-O2"])


def available():
    """Whether CUDA calls are replayed: the extension is built and loaded (this may build it)."""
    return _extension() is not None


def driver_launch_function():
    """cuLaunchKernel's address in the CUDA driver library."""
    return ctypes.cast(ctypes.CDLL("libcuda.so.1").cuLaunchKernel, ctypes.c_void_p).value


@functools.cache
def _extension():
    """The extension, launching through the CUDA driver; None where replay is off or unavailable."""
    if os.environ.get("FLASHSIGN_REPLAY") == "0" or common.INTERPRETED or not common.DIRECT_LAUNCH:
        return None
    try:
        log.info("flashsign: loading the C++ launch replay (built on first use, about 30 s)")
        extension = build()
        extension.set_launcher(driver_launch_function())
        return extension
    except Exception as err:  # no compiler, no ninja, no driver library: launch from Python
        warnings.warn(f"flashsign: C++ launch replay unavailable ({str(err).splitlines()[0]}); launching "
                      "from Python, which costs more host time per call", stacklevel=3)
        return None
