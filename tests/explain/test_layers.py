"""Named layers: the layer table per encoder family, unknown and absent names."""

from __future__ import annotations

import pytest
import torch
from explain.captum_ref import DEC, random_unet

from seginterp.core.registry import UnknownNameError
from seginterp.explain.captum_safe import captum_safe
from seginterp.explain.deeplift_check import UnsupportedEncoderError
from seginterp.explain.exact import capture_outputs
from seginterp.explain.layers import LAYERS, get_layer, layer_table
from seginterp.model.net import ModelConfig, build_model

SLOW = pytest.mark.slow


def test_layer_names():
    assert LAYERS.names() == [
        *(f"encoder{k}" for k in range(1, 5)),
        "bottleneck",
        *(f"decoder{k}" for k in range(1, 6)),
    ]


@pytest.mark.parametrize(
    "encoder",
    [
        "resnet18",
        "mobilenet_v2",
        pytest.param("vgg11_bn", marks=SLOW),
        pytest.param("densenet121", marks=SLOW),
    ],
)
def test_layer_table_points_at_the_encoder_features_and_decoder_blocks(encoder):
    model = captum_safe(random_unet(encoder))
    table = layer_table(model)
    assert list(table) == LAYERS.names()
    x = torch.rand(1, 3, 64, 64)
    with capture_outputs({n: get_layer(model, n) for n in table}) as got, torch.no_grad():
        feats = model.encoder(x)
        model(x)
    stages = [*(f"encoder{k}" for k in range(1, 5)), "bottleneck"]
    for k, name in enumerate(stages, start=1):  # stage k = the decoder's k-th skip feature
        torch.testing.assert_close(got[name], feats[k], rtol=0, atol=1e-6)
        assert got[name].shape[-1] == 64 // 2**k
    for k in range(1, 6):
        assert got[f"decoder{k}"].shape[-1] == 64 // 2 ** (5 - k)


def test_unknown_and_absent_layers_list_valid_names():
    model = random_unet("resnet18")
    with pytest.raises(UnknownNameError, match="decoder5"):
        get_layer(model, "decoder9")
    shallow = build_model(ModelConfig(encoder="resnet18", decoder_channels=(8, 8, 8)))
    assert layer_table(shallow) == {
        "encoder1": "encoder.relu",
        "encoder2": "encoder.layer1",
        "bottleneck": "encoder.layer2",
        "decoder1": "decoder.blocks.0",
        "decoder2": "decoder.blocks.1",
        "decoder3": "decoder.blocks.2",
    }
    with pytest.raises(UnsupportedEncoderError, match="valid layers: encoder1, encoder2"):
        get_layer(shallow, "encoder4")


def test_encoder_without_layer_table_is_refused():
    m = build_model(ModelConfig(encoder="efficientnet-b0", decoder_channels=DEC))
    with pytest.raises(UnsupportedEncoderError, match=r"EfficientNetEncoder.*resnet18"):
        layer_table(m)
