"""Hydra configs composed as the entry points compose them, for tests."""
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def compose_entry(config_name: str, *overrides, output_dir=None):
    """configs/<config_name>.yaml with the overrides, its Hydra runtime set as the entry point would set it;
    paths.output_dir = output_dir when given (evaluate's configs keep their own null)."""
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        if output_dir is not None:
            cfg.paths.output_dir = str(output_dir)
        cfg.paths.root_dir = str(CONFIGS.parent)
        del cfg.hydra
    return cfg


def compose_train(tmp_path, *overrides):
    return compose_entry("train", *overrides, output_dir=tmp_path)
