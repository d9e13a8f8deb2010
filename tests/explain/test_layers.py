"""Named layers: the layer table per encoder family and architecture, unknown and absent names,
``layers: all``."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from explain.captum_ref import DEC, random_unet

from seginterp.core.registry import UnknownNameError
from seginterp.explain.captum_safe import captum_safe
from seginterp.explain.config import AttributeConfig
from seginterp.explain.deeplift_check import UnsupportedEncoderError
from seginterp.explain.engine import Explainer
from seginterp.explain.exact import capture_outputs
from seginterp.explain.layers import (
    LAYERS,
    UNET_LAYERS,
    get_layer,
    head_input,
    layer_table,
    resolve_layer,
    resolve_layers,
)
from seginterp.model.architectures import ARCHITECTURES
from seginterp.model.net import ModelConfig, build_model

SLOW = pytest.mark.slow


def test_layer_names():
    assert list(UNET_LAYERS) == [
        *(f"encoder{k}" for k in range(1, 5)),
        "bottleneck",
        *(f"decoder{k}" for k in range(1, 6)),
    ]
    assert LAYERS.names()[: len(UNET_LAYERS)] == list(UNET_LAYERS)  # the plots' layer_index
    assert all(LAYERS.get(n) for n in LAYERS)  # every name has a description


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
    assert tuple(table) == UNET_LAYERS
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


ENC = ("encoder1", "encoder2", "encoder3", "encoder4", "bottleneck")
UNET_DEC = tuple(f"decoder{k}" for k in range(1, 6))
FPN_P = ("fpn_p5", "fpn_p4", "fpn_p3", "fpn_p2")
NESTED = ("nested1_1", "nested1_2", "nested2_2", "nested1_3", "nested2_3", "nested3_3")
NAMES = {
    "unet": ENC + UNET_DEC,
    "unetplusplus": ENC + UNET_DEC + NESTED,
    "manet": (*ENC, "pab", *UNET_DEC),
    "linknet": ENC + UNET_DEC,
    "fpn": (*ENC, *FPN_P, *(f"fpn_seg{k}" for k in (5, 4, 3, 2)), "decoder_out"),
    "deeplabv3plus": (*ENC, "aspp", "skip_proj", "decoder_out"),
    "deeplabv3": (*ENC, "aspp", "decoder_out"),
    "pspnet": ("encoder1", "encoder2", "bottleneck", "ppm", "decoder_out"),
    "upernet": (*ENC, "ppm", "fpn_p4", "fpn_p3", "fpn_p2", "decoder_out"),
    "segformer": (*ENC, "mlp1", "mlp2", "mlp3", "mlp4", "mlp5", "decoder_out"),
}
"""Layer names per architecture at depth 5 (the module docstring's list)."""
SIDE = {  # output side at a 64 px input, where the docstring states a stride
    "bottleneck": {"deeplabv3plus": 4, "deeplabv3": 8, "pspnet": 8},
    "encoder4": {"deeplabv3": 8},
    "decoder_out": {"deeplabv3": 8, "pspnet": 8},
}


def tiny(architecture: str, encoder: str = "resnet18") -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(
        architecture=architecture, encoder=encoder, decoder_channels=(32, 32, 8, 8, 8)
    )
    return build_model(cfg).eval()


@pytest.mark.parametrize("architecture", ARCHITECTURES.names())
def test_every_named_layer_of_every_architecture_gives_an_output(architecture):
    model = tiny(architecture)
    table = layer_table(model)
    assert tuple(table) == NAMES[architecture]
    assert all(name in LAYERS for name in table)
    with capture_outputs({n: get_layer(model, n) for n in table}) as got, torch.no_grad():
        out = model(torch.rand(1, 3, 64, 64))
    assert set(got) == set(table)
    for name, value in got.items():
        assert isinstance(value, torch.Tensor) and value.ndim == 4, name
        side = SIDE.get(name, {}).get(architecture)
        if side is None and name.startswith("encoder"):
            side = 64 // 2 ** int(name[-1])
        if side is not None:
            assert value.shape[-1] == side, name
    assert head_input(model) == ("decoder_out" if "decoder_out" in table else "decoder5")
    assert resolve_layer("last", model) == head_input(model)
    if "decoder_out" in table:  # the segmentation head's input
        head_in = {}
        hook = model.segmentation_head.register_forward_pre_hook(
            lambda m, args: head_in.setdefault("x", args[0])
        )
        try:
            with torch.no_grad():
                model(torch.rand(1, 3, 64, 64))
        finally:
            hook.remove()
        assert head_in["x"].shape == got["decoder_out"].shape
    assert out.shape == (1, 1, 64, 64)


def test_layers_all_and_absent_layers_per_model():
    fpn = tiny("fpn")
    assert resolve_layers("all", fpn) == NAMES["fpn"]
    assert resolve_layers("all", random_unet("resnet18")) == UNET_LAYERS
    assert resolve_layers(("aspp",), tiny("deeplabv3plus")) == ("aspp",)
    with pytest.raises(UnsupportedEncoderError, match=r"valid layers: encoder1, .*, decoder_out$"):
        get_layer(fpn, "decoder1")
    with pytest.raises(UnsupportedEncoderError, match="'ppm' does not exist"):
        resolve_layers(("encoder1", "ppm"), fpn)
    with pytest.raises(UnknownNameError, match="Valid layers: encoder1"):
        resolve_layers(("fpn_p9",), fpn)


def test_attribute_layers_all_is_validated_and_resolved_by_the_explainer():
    cfg = AttributeConfig(
        methods=(),
        layer_methods=("gradcam",),
        layers="all",
        guided_gradcam_layer="last",
        device="cpu",
    )
    assert cfg.layers == "all"
    with pytest.raises(ValueError, match="list of layer names or 'all'"):
        AttributeConfig(layers="decoder5")
    model = random_unet("resnet18")
    ex = Explainer(model, cfg)
    assert ex.cfg.layers == UNET_LAYERS
    assert [layer for _, layer in ex.requests] == list(UNET_LAYERS)
    assert ex.cfg.guided_gradcam_layer == "last"  # unused: Guided Grad-CAM is not run
    cam = Explainer(model, dataclasses.replace(cfg, methods=("guided_gradcam",)))
    assert cam.cfg.guided_gradcam_layer == "decoder5"  # the default `last`, resolved


def test_an_unregistered_smp_architecture_is_refused():
    import segmentation_models_pytorch as smp

    pan = smp.PAN(encoder_name="resnet18", encoder_weights=None, classes=1)
    with pytest.raises(UnsupportedEncoderError, match=r"PAN; supported: Unet, Linknet"):
        layer_table(pan)


@SLOW
@pytest.mark.parametrize("encoder", ["vgg11_bn", "densenet121"])
def test_layer_tables_of_other_encoder_families(encoder):
    for architecture in ARCHITECTURES.names():
        if architecture in ("deeplabv3plus", "deeplabv3"):
            continue  # these encoders cannot dilate (tests/model/test_architectures.py)
        model = tiny(architecture, encoder)
        table = layer_table(model)
        assert tuple(table) == NAMES[architecture], architecture
        with capture_outputs({n: get_layer(model, n) for n in table}) as got, torch.no_grad():
            model(torch.rand(1, 3, 64, 64))
        assert set(got) == set(table), architecture
