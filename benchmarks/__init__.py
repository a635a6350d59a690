"""Benchmarks and sweeps: the FlashSign kernels against SDPA and the plain-torch Gram identity
(`python -m benchmarks.kernels`), the Gram backward's tile sweep (`benchmarks.sweep_backward`), GRN
training throughput (`benchmarks.train_step`) and the napkin cost model against measurement
(`benchmarks.napkin`). They may import every package; their outputs go under results/."""
