"""A run crashed mid-epoch resumes from last.ckpt, reuses its W&B run, and ends where an uninterrupted run ends."""
import json

import pandas as pd
import pytest

from fault_injection import InjectedFault
from grn.run import run
from hydra_configs import compose_train

pytestmark = pytest.mark.usefixtures("reference_attention")

SETTINGS = ["experiment=grn_spherical", "trainer.max_epochs=3", "model.width=16", "model.heads=2",
            "callbacks.last_checkpoint.every_n_train_steps=4", "data.loader.batch_size=32", "readout.method=attention"]


def test_crash_then_resume_matches_uninterrupted_run(tmp_path):
    import wandb

    reference = run(compose_train(tmp_path / "reference", *SETTINGS)).metrics
    wandb.finish()

    crashed = tmp_path / "crashed"
    # 18 training batches per epoch: step 26 is mid-way through the second epoch, 2 steps after a save.
    with pytest.raises(InjectedFault):
        run(compose_train(crashed, *SETTINGS, "+callbacks.fault._target_=fault_injection.FaultAtStep",
                                         "+callbacks.fault.step=26"))
    wandb.finish(exit_code=1)
    assert not (crashed / "network.csv").exists() and not (crashed / "metrics.json").exists()
    run_id = (crashed / "wandb_run_id.txt").read_text()

    resumed = run(compose_train(crashed, *SETTINGS, "resume=true")).metrics
    wandb.finish()
    assert (crashed / "wandb_run_id.txt").read_text() == run_id
    run_folders = list((crashed / "wandb").glob("offline-run-*"))
    assert len(run_folders) == 2 and all(f"-{run_id}" in folder.name for folder in run_folders)  # no new run

    assert resumed["val_loss"] == pytest.approx(reference["val_loss"], rel=0.05)
    assert resumed["auprc_ratio"] == pytest.approx(reference["auprc_ratio"], abs=0.05)
    ours, theirs = (pd.read_csv(folder / "network.csv", sep="\t").set_index(["Gene1", "Gene2"])["EdgeWeight"]
                    for folder in (crashed, tmp_path / "reference"))
    assert ours.sort_index().corr(theirs.sort_index()) > 0.95
    assert json.loads((crashed / "metrics.json").read_text())["val_loss"] == resumed["val_loss"]
