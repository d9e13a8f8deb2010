"""Models trained elsewhere: the three formats give the same model; what cannot be read is
refused with one line."""

import pytest
import segmentation_models_pytorch as smp
import torch

from seginterp.model.external import Build, ModelFormatError, architecture_name, read_model
from seginterp.model.net import ModelConfig, build_model, save_model

DEC = (8, 8, 4, 4, 4)


def _three_formats(tmp_path, classes: int = 1):
    torch.manual_seed(0)
    model = smp.Unet("resnet18", encoder_weights=None, classes=classes, decoder_channels=DEC)
    model.save_pretrained(tmp_path / "smp_dir")
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    return model.eval()


def test_the_three_formats_read_the_same_weights(tmp_path):
    model = _three_formats(tmp_path, classes=3)
    x = torch.rand(1, 3, 64, 64)
    want = model(x)
    got_dir = read_model(tmp_path / "smp_dir")
    got_sd = read_model(tmp_path / "weights.pt", Build("unet", "resnet18", 3, DEC))
    assert torch.equal(got_dir(x), want) and torch.equal(got_sd(x), want)
    assert not got_dir.training and not got_sd.training
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    assert torch.equal(read_model(tmp_path / "ckpt.pt", Build("unet", "resnet18", 3, DEC))(x), want)
    cfg = ModelConfig(decoder_channels=DEC)
    ours = build_model(cfg).eval()
    save_model(tmp_path / "model.pt", ours, cfg)
    assert torch.equal(read_model(tmp_path / "model.pt")(x), ours(x))
    assert architecture_name(got_dir) == "unet"


def test_what_cannot_be_read_is_refused_with_one_line(tmp_path):
    model = _three_formats(tmp_path)
    torch.save(model, tmp_path / "pickled.pt")
    with pytest.raises(ModelFormatError, match=r"pickled model object.*state_dict\(\)"):
        read_model(tmp_path / "pickled.pt")
    with pytest.raises(ModelFormatError, match="does not say which model"):
        read_model(tmp_path / "weights.pt")
    with pytest.raises(ModelFormatError, match=r"\d+ missing \(e.g. encoder.layer1.2"):
        read_model(tmp_path / "weights.pt", Build("unet", "resnet34", 1, DEC))
    with pytest.raises(ModelFormatError, match=r"of another shape \(e.g. segmentation_head"):
        read_model(tmp_path / "weights.pt", Build("unet", "resnet18", 2, DEC))
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelFormatError, match="not a readable torch file"):
        read_model(tmp_path / "junk.pt")
    with pytest.raises(ModelFormatError, match="no such model file"):
        read_model(tmp_path / "missing.pt")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ModelFormatError, match=r"config\.json and model\.safetensors"):
        read_model(tmp_path / "empty_dir")
    torch.save({"w": [1, 2]}, tmp_path / "odd.pt")
    with pytest.raises(ModelFormatError, match=r"neither a seginterp model\.pt nor a state_dict"):
        read_model(tmp_path / "odd.pt")


def test_import_for_the_pipeline_checks_the_params_model(tmp_path):
    from seginterp.model.external import import_pretrained, weights_sha256

    cfg = ModelConfig(decoder_channels=DEC)
    torch.manual_seed(0)
    kwargs = dict(encoder_weights=None, decoder_channels=DEC)
    smp.Unet("resnet18", **kwargs).save_pretrained(tmp_path / "same")
    state, sha = import_pretrained(
        ModelConfig(decoder_channels=DEC, pretrained=str(tmp_path / "same")), 64
    )
    assert sha == weights_sha256(tmp_path / "same") and len(sha) == 64
    ours = build_model(cfg)
    ours.load_state_dict(state)
    smp.Unet("resnet18", decoder_interpolation="bilinear", **kwargs).save_pretrained(
        tmp_path / "bi"
    )
    with pytest.raises(ModelFormatError, match="computes other logits"):
        import_pretrained(ModelConfig(decoder_channels=DEC, pretrained=str(tmp_path / "bi")), 64)
    smp.Unet("resnet18", classes=3, **kwargs).save_pretrained(tmp_path / "three")
    with pytest.raises(ModelFormatError, match=r"model.pretrained .*three: the weights do not fit"):
        import_pretrained(ModelConfig(decoder_channels=DEC, pretrained=str(tmp_path / "three")), 64)
