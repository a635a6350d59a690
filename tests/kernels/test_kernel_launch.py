"""kernels.triton_common.launch caches Triton's compiled kernels: a call reuses one only when
everything Triton specialises on matches (scalar values and types, tensor dtypes and 16-byte
alignment, meta-parameters); anything else goes back through the JIT. Checked on CPU with a stand-in
for a Triton kernel, since the cached path needs a GPU to run for real."""
import pytest
import torch

from kernels import triton_common as common


class StandInKernel:
    """Records JIT launches (kernel[grid](*args, **meta)) and direct ones (compiled[grid](*args))."""
    arg_names = ["X", "Y", "n", "scale", "BLOCK", "FLAG"]

    def __init__(self):
        self.jit, self.direct = [], []

    def __getitem__(self, grid):
        def jit_launch(*args, **meta):
            self.jit.append((grid, args, meta))
            return self  # stands in for the CompiledKernel the JIT returns

        return jit_launch

    def compiled_launch(self, grid):
        return lambda *args: self.direct.append((grid, args))


@pytest.fixture
def kernel(monkeypatch):
    monkeypatch.setattr(common, "INTERPRETED", False)
    monkeypatch.setattr(common, "DIRECT_LAUNCH", True)
    monkeypatch.setattr(common, "_compiled", {})
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    return StandInKernel()


def test_a_repeated_case_launches_the_compiled_kernel_with_constexprs_in_signature_order(kernel, monkeypatch):
    x, y = torch.zeros(32), torch.zeros(32, dtype=torch.float16)
    common.launch(kernel, (2, 3), (x, y), (8, 0.5), FLAG=True, BLOCK=16, num_warps=4)
    assert len(kernel.jit) == 1 and kernel.jit[0][0] == (2, 3, 1)  # grids are padded to three axes
    # Once compiled, kernel[grid] stands for CompiledKernel[grid], the direct launch.
    monkeypatch.setattr(StandInKernel, "__getitem__", lambda self, grid: self.compiled_launch(grid))
    other_x = torch.ones(32)  # new memory, same dtype and alignment: the same compiled kernel
    common.launch(kernel, (2, 3), (other_x, y), (8, 0.5), FLAG=True, BLOCK=16, num_warps=4)
    assert len(kernel.jit) == 1
    assert kernel.direct == [((2, 3, 1), (other_x, y, 8, 0.5, 16, True))]  # BLOCK, FLAG: signature order


@pytest.mark.parametrize("change", ["scalar value", "scalar type", "tensor dtype", "alignment", "meta", "options"])
def test_anything_triton_specialises_on_goes_back_through_the_jit(kernel, change):
    x, y = torch.zeros(32), torch.zeros(32, dtype=torch.float16)
    scalars, meta = (8, 0.5), dict(BLOCK=16, FLAG=True, num_warps=4)
    common.launch(kernel, (1,), (x, y), scalars, **meta)
    if change == "scalar value":
        scalars = (16, 0.5)
    elif change == "scalar type":
        scalars = (8.0, 0.5)  # equal to 8, but Triton types it fp32, not i32
    elif change == "tensor dtype":
        y = y.to(torch.bfloat16)
    elif change == "alignment":
        x = x[1:]  # 4 bytes past a 16-byte boundary
    elif change == "meta":
        meta["BLOCK"] = 32
    else:
        meta["num_warps"] = 8
    common.launch(kernel, (1,), (x, y), scalars, **meta)
    assert len(kernel.jit) == 2


def test_triton_before_3_3_launches_through_the_jit_every_time(kernel, monkeypatch):
    monkeypatch.setattr(common, "DIRECT_LAUNCH", False)  # its compiled kernels take other arguments
    x, y = torch.zeros(32), torch.zeros(32, dtype=torch.float16)
    for _ in range(2):
        common.launch(kernel, (1,), (x, y), (8, 0.5), BLOCK=16, FLAG=True)
    assert len(kernel.jit) == 2 and not kernel.direct
