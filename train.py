"""Train a GRN transformer and read out its network: python train.py experiment=grn_spherical"""
import logging

import hydra
from omegaconf import DictConfig

from grn.errors import InputError

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from grn.pipeline import train_and_read_out  # after Hydra parsed the command line: fast --help

    try:
        metrics = train_and_read_out(cfg)
    except InputError as error:
        log.error("%s", error)
        raise SystemExit(f"error: {error}") from None
    finally:
        import wandb

        wandb.finish()
    return metrics.get("auprc_ratio")


if __name__ == "__main__":
    main()
