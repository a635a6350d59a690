"""FlashSign: fused spherical attention, the public function, its dispatch and its autograd Function.

Spherical attention replaces the SoftMax over keys with an L2 normalisation over keys:

    s_ij = q_i . k_j / sqrt(D),   r_i = sqrt(sum_j s_ij^2 + eps),   O_i = sum_j (s_ij / r_i) v_j

`flashsign(q, k, v, key_padding_mask, eps, method)` computes it, differentiably in q, k and v, with
one of two Triton forms of the same function:
- streamed (kernels/flashsign_stream.py): FlashAttention's loop without exp or rescaling, O(N^2 D);
- Gram (kernels/flashsign_gram.py): O = diag(1/r) Q (K^T V) / sqrt(D) through D x D sums, O(N D^2).
`method="auto"` takes the form that measured faster in GPU time (GRAM_FROM_KEYS below). Both keep
memory O(N): nothing of size N x N exists, forward or backward.

The module follows flash-attention's Triton file: the kernels and their launchers live in the two
form modules; here are the autograd Function (`_Attention`, through which every FlashSign gradient
passes unless its call is replayed) and the public function. A call's launches are recorded once per
case and later calls replayed from C++ (kernels/replay.py).

Caveats:
- Supported: fp16, bf16 and fp32, head dims 16, 32, 64, 128 and 256, on CUDA; other dtypes and head
  dims, and CPU tensors unless TRITON_INTERPRET=1 was set before import, run the torch reference
  (kernels/reference.py), with a one-time warning where the input is unsupported.
- The streamed form rounds s to the input dtype for s V: fp16 scores beyond 65504 overflow (NaN);
  the Gram form rounds no score. The Gram form's r^2 is a quadratic form that loses relative accuracy
  for a query almost orthogonal to every key.
- fp32 inputs use full fp32 dots ("ieee"), not tf32: exact, and much slower than fp16/bf16.
"""
import warnings
from typing import Callable, NamedTuple

import torch

from kernels.gram import spherical_attention_gram
from kernels.reference import spherical_attention_reference

try:  # Triton has wheels for Linux only; elsewhere (macOS, Windows) every call runs the torch forms
    from kernels import flashsign_gram as gram
    from kernels import flashsign_stream as stream
    from kernels import replay
    from kernels.triton_common import INTERPRETED, grad_output
    TRITON = True
except ModuleNotFoundError as missing:
    if missing.name != "triton":
        raise
    TRITON = INTERPRETED = False

SUPPORTED_HEAD_DIMS = (16, 32, 64, 128, 256)
SUPPORTED_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
METHODS = ("auto", "stream", "gram")
# Where "auto" takes the Gram form: head dim -> (keys from which a forward alone, keys from which a
# forward with a backward to follow), the crossovers of H100 GPU times (bf16, results/kernels/TUNING.md).
# The Gram form does about 12 N D^2 FLOPs a forward (4 for K^T [K | V], 8 for the row maps as two
# TF32 products each) against the streamed 4 N^2 D, in shorter kernels, so it wins from fewer keys
# at small D and with a backward. At D=256 its row kernel spills: always streamed.
GRAM_FROM_KEYS = {16: (512, 192), 32: (1024, 448), 64: (896, 640), 128: (2560, 1536)}


class Form(NamedTuple):
    """A kernel form: forward(q, k, v, key_padding_mask, eps) -> (o, *state) and
    backward(q, k, v, key_padding_mask, o, *state, do) -> (dq, dk, dv), on checked, supported inputs."""
    name: str
    forward: Callable
    backward: Callable


FORMS = {"stream": Form("stream", stream.forward, stream.backward),
         "gram": Form("gram", gram.forward, gram.backward)} if TRITON else {}


def auto_method(n, head_dim, with_backward):
    """The form "auto" takes for N keys of head dim D, with or without a backward to follow."""
    thresholds = GRAM_FROM_KEYS.get(head_dim)
    return "gram" if thresholds is not None and n >= thresholds[1 if with_backward else 0] else "stream"


_warned = set()


def _unsupported_reason(q):
    if q.dtype not in SUPPORTED_DTYPES:
        return f"dtype {q.dtype}"
    if q.shape[-1] not in SUPPORTED_HEAD_DIMS:
        return f"head dim {q.shape[-1]} (supported: {SUPPORTED_HEAD_DIMS})"
    return None


def _check_inputs(q, k, v, key_padding_mask, eps):
    if q.dim() != 4 or q.shape != k.shape or q.shape != v.shape:
        raise ValueError(f"q, k, v must share one (B, H, N, D) shape, got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    if not (q.dtype == k.dtype == v.dtype) or not q.dtype.is_floating_point:
        raise TypeError(f"q, k, v must share one floating dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if not (q.device == k.device == v.device):
        raise ValueError(f"q, k, v must be on one device, got {q.device}, {k.device}, {v.device}")
    if key_padding_mask is not None:
        if key_padding_mask.dtype != torch.bool:
            raise TypeError(f"key_padding_mask must be bool (True = real key), got {key_padding_mask.dtype}")
        if key_padding_mask.shape != (q.shape[0], q.shape[2]):
            raise ValueError(f"key_padding_mask must have shape (B, N) = {(q.shape[0], q.shape[2])}, "
                             f"got {tuple(key_padding_mask.shape)}")
        if key_padding_mask.device != q.device:
            raise ValueError(f"key_padding_mask is on {key_padding_mask.device}, q on {q.device}")
    if not eps > 0:
        raise ValueError(f"eps must be positive (it keeps rows without real keys finite), got {eps}")


class _Attention(torch.autograd.Function):
    """FlashSign's Python autograd node, for any form; records its launches for the C++ replay of `case`."""

    @staticmethod
    def forward(ctx, form, case, q, k, v, key_padding_mask, eps):
        o, *state = replay.record(case, replay.FORWARD, (q, k, v, key_padding_mask),
                                  lambda: form.forward(q, k, v, key_padding_mask, eps))
        ctx.form, ctx.case = form, case
        ctx.save_for_backward(q, k, v, key_padding_mask, o, *state)
        return o

    @staticmethod
    def backward(ctx, do):
        do = grad_output(do)
        q, k, v, key_padding_mask, o, *state = ctx.saved_tensors
        dq, dk, dv = replay.record(ctx.case, replay.BACKWARD, (q, k, v, key_padding_mask, o, *state, do),
                                   lambda: ctx.form.backward(q, k, v, key_padding_mask, o, *state, do))
        return None, None, dq, dk, dv, None, None


def attend(form, q, k, v, key_padding_mask, eps):
    """`form`'s kernels on checked, supported inputs: replayed from C++ once the case has been
    recorded, through _Attention otherwise."""
    case = replay.case_of(form, q, k, v, key_padding_mask, eps)
    if replay.replayable(case, with_backward=_records_backward(q, k, v)):
        return replay.replay(case, q, k, v, key_padding_mask)
    return _Attention.apply(form, case, q, k, v, key_padding_mask, eps)


def _records_backward(q, k, v):
    return torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad)


def flashsign(q, k, v, key_padding_mask=None, eps=1e-6, method="auto"):
    """Spherical attention O_i = sum_j s_ij v_j / sqrt(sum_j s_ij^2 + eps), s = q k^T / sqrt(D).

    q, k, v: (B, H, N, D) of one dtype (fp16, bf16 or fp32) on one device; any strides.
    key_padding_mask: optional (B, N) bool, True = real key; masked keys contribute nothing.
    Returns O, shape (B, H, N, D), dtype of q. Differentiable in q, k and v.

    method: "stream" (O(N^2 D) kernels), "gram" (O(N D^2) kernels) or "auto" (see auto_method; a
    backward follows when autograd records the call).

    Dispatch: CUDA tensors run the Triton kernels; CPU tensors run the Triton interpreter when
    TRITON_INTERPRET=1 was set before import, else plain torch: the reference, or from more than
    2 D keys (where 4 N^2 D score FLOPs exceed the Gram form's ~6 N D^2) the torch Gram form
    (kernels/gram.py), so that long sequences train on a CPU too; without Triton installed, every
    tensor does. Unsupported dtypes or head dims fall back to the reference with a one-time warning.
    """
    _check_inputs(q, k, v, key_padding_mask, eps)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not TRITON or not (q.is_cuda or INTERPRETED):
        torch_form = spherical_attention_gram if q.shape[-2] > 2 * q.shape[-1] else spherical_attention_reference
        return torch_form(q, k, v, key_padding_mask, eps)
    reason = _unsupported_reason(q)
    if reason is not None:
        if reason not in _warned:
            _warned.add(reason)
            warnings.warn(f"flashsign: no Triton kernel for {reason}; using the torch reference", stacklevel=2)
        return spherical_attention_reference(q, k, v, key_padding_mask, eps)
    if method == "auto":
        method = auto_method(*q.shape[2:], with_backward=_records_backward(q, k, v))
    return attend(FORMS[method], q, k, v, key_padding_mask, eps)
