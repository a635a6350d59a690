"""Where FlashSign's GPU time goes: each kernel's device time in a forward+backward, by the torch profiler.

    python -m benchmarks.kernel_profile [--shapes B,H,N,D ...] [--json results/kernels/profile.json]

For each shape (bf16, `flashsign` as dispatched) `CALLS` forward calls, then `CALLS` forward+backward
calls (inputs requiring grad), are profiled after warm-up. Each kernel's mean device time per call is listed beside the
roofline time of the bytes the call must move at the copy bandwidth measured in the same run
(benchmarks.kernels), so the kernel that keeps a pass from the roofline is named.
"""
import argparse
import collections
import itertools
import json
import sys

import torch
from torch.autograd import DeviceType

from benchmarks.kernels import ROOFLINE_SHAPES, measure_copy_tbps, parse_shape, roofline_ms
from benchmarks.results import write_results
from kernels import flashsign
from kernels.flashsign_api import auto_method

CALLS = 10


def kernel_times(shape, backward, dtype=torch.bfloat16):
    """Kernel name -> (launches, device us) per forward (+backward) call."""
    q, k, v = (torch.randn(shape, device="cuda", dtype=dtype, requires_grad=backward) for _ in range(3))
    grad_out = torch.randn(shape, device="cuda", dtype=dtype)

    def call():
        out = flashsign(q, k, v)
        if backward:  # gradients returned, not accumulated into .grad: an accumulation would add three kernels
            torch.autograd.grad(out, (q, k, v), grad_out)

    for _ in range(3):  # compile, record the launch replay, then replay
        call()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as profile:
        for _ in range(CALLS):
            call()
        torch.cuda.synchronize()
    launches, microseconds = collections.Counter(), collections.Counter()
    for event in profile.events():
        if event.device_type == DeviceType.CUDA:
            launches[event.name] += 1
            microseconds[event.name] += event.device_time_total
    return {name: (launches[name] / CALLS, microseconds[name] / CALLS) for name in microseconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", type=parse_shape, default=ROOFLINE_SHAPES, metavar="B,H,N,D")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("benchmarks.kernel_profile needs a CUDA GPU")
    copy_tbps = measure_copy_tbps()
    rows = []
    for shape, (passes, backward) in itertools.product(args.shapes, (("fwd", False), ("fwd+bwd", True))):
        kernels = kernel_times(shape, backward)
        total = sum(us for _, us in kernels.values())
        floor = roofline_ms(shape, "bf16", copy_tbps)[passes] * 1e3
        row = {"shape": list(shape), "passes": passes, "form": auto_method(*shape[2:], with_backward=backward),
               "device us": round(total, 1), "roofline us": round(floor, 1),
               "kernels": {name: {"launches": n, "us": round(us, 1), "share": round(us / total, 3)}
                           for name, (n, us) in sorted(kernels.items(), key=lambda item: -item[1][1])}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    env = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "copy TB/s": round(copy_tbps, 3),
           "command": " ".join(["python -m benchmarks.kernel_profile"] + sys.argv[1:])}
    write_results("", {"environment": env, "rows": rows}, json_path=args.json)


if __name__ == "__main__":
    main()
