"""The napkin cost model against measurement: attention as a diagram, lowered fused and unfused.

    python -m benchmarks.napkin > results/kernels/napkin_check.txt        (needs a CUDA GPU)

For each (B, H, N, D) the attention core (contract over k, normalise over the key axis, contract
over it) is lowered twice from one diagram and timed forward in bf16 with triton's do_bench (median);
ncd_layers' cost model predicts both times for an H100 (figures in ncd_layers/cost.py).
"""
import torch
import triton

from ncd_layers import H100, Axis, TransformerAxes, attention_core, cost, lower

SHAPES = [(4, 16, 1024, 64), (4, 16, 4096, 64), (2, 16, 8192, 64), (4, 16, 4096, 128), (64, 4, 2048, 16)]


def main():
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}")
    print(f"{'B,H,N,D':>18} {'normaliser':>10} {'lowering':>8} {'predicted us':>13} {'measured us':>12} "
          f"{'measured/predicted':>19}")
    for B, H, N, D in SHAPES:
        for normaliser in ("l2", "softmax"):
            core = attention_core(TransformerAxes.make(H * D, H), normaliser).over(Axis("b"))
            report = cost(core, {"b": B, "x": N, "y": N}, H100, bytes_per_element=2)
            q, k, v = (torch.randn(B, N, H, D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
            for name, predicted in (("fused", report.fused), ("unfused", report.unfused)):
                if name == "unfused" and B * H * N * N * 4 * 3 > 40e9:
                    continue  # the unfused score and weight wires would not fit
                module = lower(core, fuse=name == "fused").cuda()
                with torch.no_grad():
                    ms = triton.testing.do_bench(lambda: module(q, k, v), return_mode="median")
                print(f"{str((B, H, N, D)):>18} {normaliser:>10} {name:>8} {predicted.seconds * 1e6:13.1f} "
                      f"{ms * 1e3:12.1f} {ms * 1e-3 / predicted.seconds:19.2f}")
                del module
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
