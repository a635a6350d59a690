"""Hydra configs composed as the entry points compose them, for tests."""
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def compose_train(tmp_path, *overrides):
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
        cfg.paths.root_dir = str(CONFIGS.parent)
        del cfg.hydra
    return cfg
