import pytest
import torch

from seginterp.model import ModelConfig, build_model, load_model, resolve_device, save_model
from seginterp.params import ParamsError


def test_save_load_roundtrip_rebuilds_the_same_function(tmp_path):
    torch.manual_seed(0)
    cfg = ModelConfig(encoder="resnet18", decoder_channels=(16, 8, 8, 4, 4))
    m = build_model(cfg).eval()
    save_model(tmp_path / "m.pt", m, cfg, best_epoch=3)
    m2, cfg2, extra = load_model(tmp_path / "m.pt")
    assert cfg2 == cfg and extra == {"best_epoch": 3}
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = m(x)
        torch.testing.assert_close(out, m2(x))
    assert out.shape == (2, 1, 32, 32)  # one logit channel, no activation


def test_load_refuses_foreign_files(tmp_path):
    torch.save({"weights": 1}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a seginterp model"):
        load_model(tmp_path / "x.pt")


def test_unknown_encoder_lists_valid_names():
    with pytest.raises(Exception, match="resnet18"):
        build_model(ModelConfig(encoder="no-such-encoder"))


def test_unknown_config_key_is_rejected(tmp_path):
    from seginterp.model import model_config_from_params

    with pytest.raises(ParamsError, match="valid keys"):
        model_config_from_params({"encoder": "resnet18", "encoderr_weights": None})


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="valid"):
        resolve_device("tpu")
