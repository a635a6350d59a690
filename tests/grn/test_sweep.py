"""In a multirun, a failing job does not stop the others, and every W&B run is closed with its exit code."""
import os
import subprocess
import sys
from pathlib import Path

from wandb_records import finished_records

REPO = Path(__file__).resolve().parents[2]


def exit_codes(run_file):
    return [record.exit.exit_code for record in finished_records(run_file) if record.HasField("exit")]


def test_failing_job_does_not_stop_the_sweep(tmp_path):
    # Job 0 crashes at its 3rd step (after its W&B run started); job 1 must still run and finish.
    command = [sys.executable, "train.py", "-m", "trainer.max_epochs=1", "model.width=16", "model.heads=2",
               "+callbacks.fault._target_=fault_injection.FaultAtStep", "+callbacks.fault.step=3,1000000",
               f"hydra.sweep.dir={tmp_path}"]
    environment = {**os.environ, "PYTHONPATH": f"{REPO / 'tests'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    environment.pop("TRITON_INTERPRET", None)  # the kernel tests cover the interpreter; this is about the sweep
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "job failed, the sweep goes on" in result.stderr + result.stdout
    assert not (tmp_path / "0" / "network.csv").exists()
    assert (tmp_path / "1" / "network.csv").stat().st_size > 0
    (failed,), (finished,) = (list((tmp_path / job / "wandb").glob("offline-run-*/run-*.wandb")) for job in "01")
    assert exit_codes(failed) == [1]
    assert exit_codes(finished) == [0]
