"""Train a GRN transformer and read out its network: python train.py experiment=grn_spherical"""
import logging

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from grn.errors import InputError

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
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


if __name__ == "__main__":
    main()
