import pytest
from support import ROOT

from seginterp.core.params import ParamsError, load_params
from seginterp.evaluate.config import EvaluateConfig


def test_config_from_params_yaml():
    params = load_params(ROOT / "params.yaml")
    for d in params["datasets"]:
        cfg = EvaluateConfig.from_params(params, d)
        assert cfg.n_perturb_samples >= 50
    with pytest.raises(ParamsError, match="valid keys"):
        EvaluateConfig.from_params({"t": {"evaluate": {"infidelity_sigmas": [0.03]}}}, "t")
    with pytest.raises(ValueError, match="positive"):
        EvaluateConfig(infidelity_sigma=(0.0,))


def test_deletion_settings_are_checked_with_the_valid_values():
    with pytest.raises(ValueError, match="deletion_replacement 'zero'; valid: road, baseline"):
        EvaluateConfig(deletion_replacement="zero")
    with pytest.raises(ValueError, match=r"\[2, 100\]"):
        EvaluateConfig(deletion_steps=1)
    assert EvaluateConfig(deletion_replacement="baseline").deletion_replacement == "baseline"
