"""The training entry point: `python train.py experiment=grn_spherical` in a checkout, or the
`flashsign-grn` console script once installed; both run `main` with the same Hydra command line.

CONFIG_DIR is the `configs/` folder beside the `grn` package: the repository's in a checkout, the
installed copy (shipped as package data, pyproject.toml) in site-packages. Hydra is given its absolute
path, so the configs resolve from any working directory and whichever entry point runs."""
import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from grn.errors import InputError

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Train, read out, score and log one run (a job of a sweep with -m); returns its AUPRC ratio, the
    value a Hydra sweeper optimises. Bad input ends the run with one line naming the problem."""
    import wandb

    from grn.run import run  # after Hydra parsed the command line: fast --help

    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        network = run(cfg)
    except Exception as error:
        wandb.finish(exit_code=1)  # the W&B run is closed and marked failed, whatever happened
        bad_input = isinstance(error, InputError)
        if bad_input:
            log.error("%s", error)
        if in_sweep:  # one failing job must not stop the others
            log.log(logging.ERROR, "job failed, the sweep goes on", exc_info=not bad_input)
            return None
        if bad_input:
            raise SystemExit(f"error: {error}") from None
        raise
    wandb.finish()
    return None if network is None else network.metrics.get("auprc_ratio")
