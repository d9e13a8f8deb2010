"""``model.architecture``: every registered smp architecture gives (B, 1, H, W) logits."""

from __future__ import annotations

import pytest
import segmentation_models_pytorch as smp
import torch

from seginterp.core.registry import UnknownNameError
from seginterp.model.architectures import ARCHITECTURES, smp_kwargs
from seginterp.model.net import ModelConfig, build_model, check_model, load_model, save_model

TINY = (32, 32, 8, 8, 8)  # fpn reads [1] as GroupNorm(32) channels


def tiny(architecture: str, encoder: str = "resnet18") -> ModelConfig:
    return ModelConfig(architecture=architecture, encoder=encoder, decoder_channels=TINY)


def test_names():
    assert ARCHITECTURES.names() == [
        "unet",
        "unetplusplus",
        "manet",
        "linknet",
        "fpn",
        "deeplabv3plus",
        "deeplabv3",
        "pspnet",
        "upernet",
        "segformer",
    ]
    assert ModelConfig().architecture == "unet"


@pytest.mark.parametrize("architecture", ARCHITECTURES.names())
def test_every_architecture_gives_one_logit_channel_at_input_size(architecture):
    torch.manual_seed(0)
    model = build_model(tiny(architecture)).eval()
    assert type(model).__name__ == ARCHITECTURES.get(architecture).smp_class
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 64))
    assert out.shape == (1, 1, 64, 64) and torch.isfinite(out).all()


def test_default_unet_is_built_exactly_as_smp_unet_with_the_papers_args():
    """Same modules and the same initial weights for a seed as before the registry."""
    cfg = ModelConfig(decoder_channels=(16, 8, 8, 4, 4))
    torch.manual_seed(0)
    ours = build_model(cfg)
    torch.manual_seed(0)
    ref = smp.Unet(
        encoder_name="resnet18",
        encoder_depth=5,
        encoder_weights=None,
        decoder_channels=[16, 8, 8, 4, 4],
        in_channels=3,
        classes=1,
        activation=None,
    )
    assert repr(ours) == repr(ref)
    got, want = ours.state_dict(), ref.state_dict()
    assert list(got) == list(want)
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_unknown_architecture_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match=r"'unetpp'. Valid architectures: unet, unetplus"):
        ModelConfig(architecture="unetpp")
    params = {"d": {"model": {"architecture": "psp"}}}
    with pytest.raises(ValueError, match="pspnet"):
        ModelConfig.from_params(params, "d")


def test_decoder_channels_mapping():
    dc = (128, 64, 32, 16, 8)
    assert smp_kwargs("unet", dc) == {"encoder_depth": 5, "decoder_channels": list(dc)}
    assert smp_kwargs("linknet", dc[:3]) == {"encoder_depth": 3}
    assert smp_kwargs("fpn", dc) == {
        "encoder_depth": 5,
        "decoder_pyramid_channels": 128,
        "decoder_segmentation_channels": 64,
    }
    assert smp_kwargs("deeplabv3plus", dc) == {"encoder_depth": 5, "decoder_channels": 128}
    assert smp_kwargs("pspnet", dc) == {"psp_out_channels": 128}  # smp's depth 3
    assert smp_kwargs("segformer", dc) == {
        "encoder_depth": 5,
        "decoder_segmentation_channels": 128,
    }
    with pytest.raises(ValueError, match="multiple of 32"):
        ModelConfig(architecture="fpn", decoder_channels=(128, 48, 8))
    with pytest.raises(ValueError, match="fpn reads 2 entries"):
        ModelConfig(architecture="fpn", decoder_channels=(128,))


def test_check_model_builds_on_meta_and_says_why_not():
    meta = check_model(ModelConfig(architecture="deeplabv3plus"), 96)
    assert next(meta.parameters()).device.type == "meta"
    check_model(ModelConfig(), 100)  # smp's Unet accepts any side
    with pytest.raises(ValueError, match="divisible by 32"):
        check_model(ModelConfig(architecture="unetplusplus"), 100)
    with pytest.raises(ValueError, match="dilated"):
        check_model(ModelConfig(architecture="deeplabv3plus", encoder="vgg11_bn"), 96)
    with pytest.raises(ValueError, match="cannot build"):
        check_model(ModelConfig(architecture="fpn", decoder_channels=(64, 64)), 96)  # depth 2


def test_save_load_keeps_the_architecture(tmp_path):
    torch.manual_seed(0)
    cfg = tiny("fpn")
    model = build_model(cfg).eval()
    save_model(tmp_path / "m.pt", model, cfg)
    again, cfg2, _ = load_model(tmp_path / "m.pt")
    assert cfg2 == cfg and type(again).__name__ == "FPN"
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)


def test_a_model_file_without_architecture_is_a_unet(tmp_path):
    cfg = ModelConfig(decoder_channels=(8, 8, 8))
    save_model(tmp_path / "m.pt", build_model(cfg), cfg)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    del payload["config"]["architecture"]  # written before model.architecture existed
    torch.save(payload, tmp_path / "old.pt")
    model, cfg2, _ = load_model(tmp_path / "old.pt")
    assert cfg2 == cfg and type(model).__name__ == "Unet"


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ["vgg11_bn", "densenet121"])
def test_other_encoder_families(encoder):
    dilated = {"deeplabv3plus", "deeplabv3"}
    for architecture in ARCHITECTURES.names():
        if architecture in dilated:  # VGG and DenseNet cannot dilate: refused, naming why
            with pytest.raises(ValueError, match="dilated"):
                check_model(tiny(architecture, encoder), 64)
            continue
        model = build_model(tiny(architecture, encoder)).eval()
        with torch.no_grad():
            assert model(torch.rand(1, 3, 64, 64)).shape == (1, 1, 64, 64), architecture
