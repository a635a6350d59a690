"""A callback that crashes training at a chosen step, to test resuming from the last checkpoint."""
import lightning as L


class InjectedFault(RuntimeError):
    pass


class FaultAtStep(L.Callback):
    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == self.step:
            raise InjectedFault(f"injected fault at step {self.step}")
