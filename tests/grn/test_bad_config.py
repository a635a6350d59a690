"""Configurations that cannot run stop with an error that names the problem."""
import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException

from grn.errors import InputError
from grn.run import run
from hydra_configs import compose_train

pytestmark = pytest.mark.usefixtures("reference_attention")


@pytest.mark.parametrize("override, missing", [
    ("experiment=grn_nope", "experiment/grn_nope"), ("model/attention=cosine", "model/attention/cosine"),
    ("data=nope", "data/nope"),
])
def test_unknown_config_choice_is_named(tmp_path, override, missing):
    with pytest.raises((MissingConfigException, ConfigCompositionException), match=missing.split("/")[-1]):
        compose_train(tmp_path, override)


@pytest.mark.parametrize("overrides, message", [
    (["model.width=30", "model.heads=4"], "width 30 must be divisible by heads 4"),
    (["model.attention.normaliser=cosine"], "normaliser must be one of"),
    (["data.loader.batch_size=0"], "batch_size must be at least 1"),
    (["data.loader.mask_fraction=0"], "mask_fraction must lie in"),
    (["data.preprocess.n_top_genes=1"], "n_top_genes must be at least 2"),
    (["data=beeline", "data.path=/nonexistent/dataset"], "BEELINE dataset folder not found: /nonexistent/dataset"),
    (["readout.method=saliency"], "readout.method must be one of"),
    (["readout.method=attention", "readout.mode=mean"], r"readout.mode must be auto or one of \('raw', 'abs', 'rank'\)"),
    (["readout.mode=rank"], "for the knockout read-out"),  # krumsiek11's 11 genes: auto reads by knockout
    (["readout.max_edges=0"], "readout.max_edges must be a whole number >= 1 or null"),
    (["readout.batch_size=null"], "readout.batch_size must be a whole number >= 1, got None"),
])
def test_impossible_settings_stop_before_training(tmp_path, overrides, message):
    cfg = compose_train(tmp_path, "logger=none", *overrides)
    with pytest.raises(InputError, match=message):
        run(cfg)
    assert not (tmp_path / "checkpoints").exists()
