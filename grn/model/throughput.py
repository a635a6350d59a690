"""Training throughput, logged every N steps of real training: cells/s, tokens/s, attention TFLOP/s,
peak GPU memory, and the share of time spent waiting for data.

Lightning's own ThroughputMonitor takes one fixed FLOP count per batch and synchronises the device
after every step. Here the attention work depends on each batch's padded length (per-cell gene sets),
and the device is synchronised only where a window of steps opens and closes, so the steps in between
run as they would without the callback. Validation inside a window is not counted as training time.

Attention FLOPs follow the project's convention: 4*B*H*N^2*D forward and 2.5x that backward per
attention layer, with H*D the model width and N the padded length the kernels run over.
"""
import time

import torch
from lightning.pytorch.callbacks import Callback

FWD_BWD = 3.5  # forward + backward attention FLOPs, in units of the forward's


class ThroughputMonitor(Callback):
    def __init__(self, every_n_steps: int = 50):
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be at least 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self._window = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        now = _synchronised_clock(pl_module) if self._window is None else time.perf_counter()
        if self._window is None:
            self._window = {"start": now, "steps": 0, "cells": 0, "tokens": 0, "flops": 0.0,
                            "paused": 0.0, "waiting": 0.0}
            if pl_module.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(pl_module.device)
        elif "step_end" in self._window:  # host time between the last step's end and this one's start
            self._window["waiting"] += now - self._window.pop("step_end")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        window = self._window
        gene_ids = batch[0]
        cells, length = gene_ids.shape
        window["steps"] += 1
        window["cells"] += cells
        # A device tensor for masked batches: summed on the device, read once when the window closes.
        window["tokens"] = window["tokens"] + (batch[3].sum() if len(batch) > 3 else gene_ids.numel())
        layers = len(pl_module.model.attention_layers())
        window["flops"] += FWD_BWD * 4 * cells * length**2 * pl_module.hparams.width * layers
        if window["steps"] < self.every_n_steps:
            window["step_end"] = time.perf_counter()
            return
        seconds = _synchronised_clock(pl_module) - window["start"] - window["paused"]
        metrics = {"throughput/cells_per_s": window["cells"] / seconds,
                   "throughput/tokens_per_s": float(window["tokens"]) / seconds,
                   "throughput/attention_tflops": window["flops"] / seconds * 1e-12,
                   "throughput/data_wait_fraction": window["waiting"] / seconds}
        if pl_module.device.type == "cuda":
            metrics["throughput/peak_memory_gib"] = torch.cuda.max_memory_allocated(pl_module.device) / 2**30
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        self._window = None

    def on_validation_start(self, trainer, pl_module):
        if self._window is not None:
            self._window["validation_start"] = _synchronised_clock(pl_module)

    def on_validation_end(self, trainer, pl_module):
        if self._window is not None and "validation_start" in self._window:
            self._window["paused"] += _synchronised_clock(pl_module) - self._window.pop("validation_start")
            self._window.pop("step_end", None)  # the wait before the next step is not data loading

    def on_train_end(self, trainer, pl_module):
        self._window = None  # a partial window is not reported


def _synchronised_clock(pl_module) -> float:
    """Host time once the device has finished the work queued so far."""
    if pl_module.device.type == "cuda":
        torch.cuda.synchronize(pl_module.device)
    return time.perf_counter()
