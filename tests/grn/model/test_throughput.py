"""The throughput callback, against hand-computed windows and in a real run's W&B log."""
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.loggers.logger import Logger

import grn.model.throughput
from grn.run import run
from grn.model.throughput import ThroughputMonitor
from hydra_configs import compose_train
from wandb_records import logged_values


class RecordingLogger(Logger):
    name, version = "recording", 0

    def __init__(self):
        super().__init__()
        self.records = []

    def log_hyperparams(self, params, *args, **kwargs):
        pass

    def log_metrics(self, metrics, step=None):
        self.records.append((step, dict(metrics)))


def fake_run(monkeypatch, clock_readings):
    readings = iter(clock_readings)
    monkeypatch.setattr(grn.model.throughput.time, "perf_counter", lambda: next(readings))
    logger = RecordingLogger()
    trainer = SimpleNamespace(loggers=[logger], global_step=2)
    module = SimpleNamespace(device=torch.device("cpu"), hparams=SimpleNamespace(width=8),
                             model=SimpleNamespace(attention_layers=lambda: ["layer1", "layer2"]))
    # Two steps: 3 cells padded to 5 tokens with 12 real ones, then 2 unpadded cells of 4 tokens.
    masked = (torch.zeros(3, 5, dtype=torch.long),) * 3 + (torch.tensor([[1] * 5, [1] * 4 + [0], [1] * 3 + [0] * 2]).bool(),)
    plain = (torch.zeros(2, 4, dtype=torch.long),) * 3
    return logger, trainer, module, masked, plain


# By hand: 5 cells, 12 + 8 = 20 tokens; attention FLOPs 3.5 * 4 * (3 * 5^2 + 2 * 4^2) * width 8 * 2 layers.
CELLS, TOKENS, FLOPS = 5, 20, 3.5 * 4 * (3 * 25 + 2 * 16) * 8 * 2


def test_window_rates_by_hand(monkeypatch):
    # Clock: window opens at 100, step 1 ends at 101, step 2 starts at 101.5 (0.5 s waiting for data),
    # the window closes at 104: 4 s.
    logger, trainer, module, masked, plain = fake_run(monkeypatch, [100.0, 101.0, 101.5, 104.0])
    callback = ThroughputMonitor(every_n_steps=2)
    callback.on_train_batch_start(trainer, module, masked, 0)
    callback.on_train_batch_end(trainer, module, None, masked, 0)
    assert logger.records == []
    callback.on_train_batch_start(trainer, module, plain, 1)
    callback.on_train_batch_end(trainer, module, None, plain, 1)
    (step, metrics), = logger.records
    assert step == 2
    assert metrics["throughput/cells_per_s"] == pytest.approx(CELLS / 4)
    assert metrics["throughput/tokens_per_s"] == pytest.approx(TOKENS / 4)
    assert metrics["throughput/attention_tflops"] == pytest.approx(FLOPS / 4 * 1e-12)
    assert metrics["throughput/data_wait_fraction"] == pytest.approx(0.5 / 4)


def test_validation_inside_a_window_is_not_training_time(monkeypatch):
    # Validation from 101.2 to 102.2 between the two steps; the window closes at 105: 5 s - 1 s.
    logger, trainer, module, masked, plain = fake_run(monkeypatch, [100.0, 101.0, 101.2, 102.2, 102.5, 105.0])
    callback = ThroughputMonitor(every_n_steps=2)
    callback.on_train_batch_start(trainer, module, masked, 0)
    callback.on_train_batch_end(trainer, module, None, masked, 0)
    callback.on_validation_start(trainer, module)
    callback.on_validation_end(trainer, module)
    callback.on_train_batch_start(trainer, module, plain, 0)
    callback.on_train_batch_end(trainer, module, None, plain, 0)
    (_, metrics), = logger.records
    assert metrics["throughput/cells_per_s"] == pytest.approx(CELLS / 4)
    assert metrics["throughput/data_wait_fraction"] == 0.0


def test_every_n_steps_must_be_positive():
    with pytest.raises(ValueError, match="every_n_steps"):
        ThroughputMonitor(every_n_steps=0)


def test_real_training_logs_throughput_to_wandb(tmp_path):
    cfg = compose_train(tmp_path, "experiment=grn_spherical", "trainer.max_epochs=1", "+trainer.limit_train_batches=4",
                        "+trainer.limit_val_batches=1", "model.width=16", "model.heads=2",
                        "callbacks.throughput.every_n_steps=2")
    run(cfg)
    import wandb

    wandb.finish()
    run_file, = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    logged = logged_values(run_file)
    # krumsiek11: 11 genes, every one a token, so tokens/s = 11 cells/s within a window; FLOPs per cell
    # are 3.5 * 4 * 11^2 * width 16 * 2 layers.
    assert logged["throughput/cells_per_s"] > 0
    assert logged["throughput/tokens_per_s"] == pytest.approx(11 * logged["throughput/cells_per_s"])
    assert logged["throughput/attention_tflops"] == pytest.approx(
        3.5 * 4 * 121 * 16 * 2 * logged["throughput/cells_per_s"] * 1e-12)
    assert 0 <= logged["throughput/data_wait_fraction"] < 1
