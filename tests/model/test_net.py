import numpy as np
import pytest
import torch

from seginterp.core.params import ParamsError
from seginterp.model.net import (
    ModelConfig,
    build_model,
    load_model,
    resolve_device,
    save_model,
    to_input,
)


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


def test_saved_bytes_do_not_depend_on_path_or_process(tmp_path):
    """No temporary file name inside model.pt: the same weights give the same sha256."""
    torch.manual_seed(0)
    cfg = ModelConfig(encoder="resnet18", decoder_channels=(8, 8, 8, 4, 4))
    m = build_model(cfg)
    save_model(tmp_path / "a.pt", m, cfg, best_epoch=1)
    (tmp_path / "sub").mkdir()
    save_model(tmp_path / "sub" / "model.pt", m, cfg, best_epoch=1)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "sub" / "model.pt").read_bytes()


def test_load_refuses_foreign_files(tmp_path):
    torch.save({"weights": 1}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a seginterp model"):
        load_model(tmp_path / "x.pt")


def test_unknown_encoder_lists_valid_names():
    with pytest.raises(Exception, match="resnet18"):
        build_model(ModelConfig(encoder="no-such-encoder"))


def test_unknown_config_key_is_rejected(tmp_path):
    params = {"d": {"model": {"encoder": "resnet18", "encoderr_weights": None}}}
    with pytest.raises(ParamsError, match="valid keys"):
        ModelConfig.from_params(params, "d")


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="valid"):
        resolve_device("tpu")


def test_to_input_layout_and_range():
    images = np.zeros((2, 5, 6, 3), np.uint8)
    images[..., 1] = 255
    x = to_input(images)
    assert x.shape == (2, 3, 5, 6) and x.dtype == torch.float32 and x.is_contiguous()
    assert float(x[:, 1].min()) == 1.0 and float(x[:, 0].max()) == 0.0
    with pytest.raises(ValueError, match=r"\(N,H,W,3\)"):
        to_input(images[0])
