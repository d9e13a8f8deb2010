"""``<dataset>.attribute`` of params.yaml: names and values are checked when the config is built."""

from __future__ import annotations

import pytest
from explain.captum_ref import random_unet
from support import ROOT

from seginterp.core.params import ParamsError, from_mapping, load_params
from seginterp.core.registry import UnknownNameError
from seginterp.explain.config import AttributeConfig
from seginterp.explain.layers import resolve_layer, resolve_layers


def test_unknown_names_list_valid_ones():
    with pytest.raises(UnknownNameError, match="saliency, input_x_gradient"):
        AttributeConfig(methods=("saliency", "lime"))
    with pytest.raises(UnknownNameError, match="gradcam, deeplift"):
        AttributeConfig(layer_methods=("gradcam++",))
    model = random_unet("resnet18")  # layer names are checked against the model's
    with pytest.raises(
        UnknownNameError, match=r"Valid layers: encoder1.*decoder5 \(this model's\)"
    ):
        resolve_layers(("decoder6",), model)
    with pytest.raises(UnknownNameError, match="bottleneck"):
        resolve_layer("head", model)
    with pytest.raises(ValueError, match="zeros, blur, mean"):
        AttributeConfig(deeplift_baseline="noise")
    with pytest.raises(ParamsError, match="valid keys"):
        from_mapping(AttributeConfig, {"methodz": ["saliency"]})
    with pytest.raises(ParamsError, match="valid keys"):
        AttributeConfig.from_params({"d": {"attribute": {"methodz": []}}}, "d")


def test_params_yaml_sections_build():
    params = load_params(ROOT / "params.yaml")
    for name in params["datasets"]:
        cfg = AttributeConfig.from_params(params, name)
        assert cfg == from_mapping(AttributeConfig, params[name]["attribute"])
        assert cfg.methods and cfg.nonlinear_mode in ("exact", "sampled")
