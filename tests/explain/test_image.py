"""explain_image: one image of a model trained elsewhere, as the pipeline explains it."""

import re
from pathlib import Path

import numpy as np
import pytest
import segmentation_models_pytorch as smp
import torch
from evaluate.toys import tiny_unet
from torch import nn

from seginterp.explain.borders import border_pixels
from seginterp.explain.config import AttributeConfig
from seginterp.explain.engine import Explainer
from seginterp.explain.image import ExplainImageError, explain_image

README = Path(__file__).resolve().parents[2] / "README.md"
CONFIG = dict(methods=("saliency", "deeplift", "guided_backprop"), layer_methods=("gradcam",),
              layers=("encoder1", "decoder5"), nonlinear_mode="sampled", sample_k=8,
              device="cpu")  # fmt: skip


def _image(size: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_maps_mask_and_border_are_the_pipelines(tmp_path):
    model, image = tiny_unet(), _image()
    got = explain_image(model, image, **CONFIG)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        prob = torch.sigmoid(model(x)[0, 0].double()).numpy()
    assert (got.mask == (prob > 0.5)).all() and 0 < got.mask.sum() < got.mask.size
    assert (got.border == border_pixels(got.mask)).all()
    cfg = AttributeConfig(guided_gradcam_layer="decoder5", **CONFIG)
    want = Explainer(model, cfg).explain(x, got.border)
    assert list(got.maps) == ["saliency", "deeplift", "guided_backprop", "gradcam@encoder1",
                              "gradcam@decoder5"]  # fmt: skip
    for rec, label in zip(want, got.maps, strict=True):
        assert np.array_equal(got.maps[label], rec.map), label  # the engine's maps, bit for bit
    assert got.maps["deeplift"].shape == (3, 64, 64)
    assert got.maps["gradcam@encoder1"].shape == (64, 64)
    assert got.modes["guided_backprop"] == "sampled(8)" and got.modes["saliency"] == "one-pass"
    assert got.completeness == {"deeplift": "exact"}
    assert got.maps["deeplift"].sum() == pytest.approx(got.delta_f["deeplift"], rel=1e-3)
    got.figure(tmp_path / "no_truth.png")
    got.figure(tmp_path / "truth.png", truth=got.mask)
    for name in ("no_truth.png", "truth.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_what_cannot_be_explained_is_refused_with_one_line():
    model = tiny_unet()
    with pytest.raises(ExplainImageError, match=r"must be \(H, W, 3\)"):
        explain_image(model, _image()[..., 0], **CONFIG)
    with pytest.raises(ExplainImageError, match=r"must lie in \[0, 1\]"):
        explain_image(model, _image().astype(np.float32), **CONFIG)
    torch.manual_seed(0)
    grey = smp.Unet("resnet18", encoder_weights=None, in_channels=1, decoder_channels=(8,) * 5)
    with pytest.raises(ExplainImageError, match=r"cannot take a \(1, 3, 64, 64\) input"):
        explain_image(grey.eval(), _image(), **CONFIG)
    with torch.no_grad():
        model.segmentation_head[0].bias.fill_(-1e4)  # every pixel background
    with pytest.raises(ExplainImageError, match="the predicted mask is empty"):
        explain_image(model, _image(), **CONFIG)
    with pytest.raises(ValueError, match="not an smp segmentation model"):
        explain_image(nn.Conv2d(3, 1, 1), _image(), **CONFIG)
    two = smp.Unet("resnet18", encoder_weights=None, classes=2, decoder_channels=(8, 8, 4, 4, 4))
    with pytest.raises(ExplainImageError, match="has 2 output channels"):
        explain_image(two.eval(), _image(), **CONFIG)


def test_readme_example_runs(tmp_path, monkeypatch):
    text = README.read_text()
    section = text[text.index("## Explain your own model") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "README: no Python example under 'Explain your own model'"
    monkeypatch.chdir(tmp_path)
    exec(compile(code.group(1), "README example", "exec"), {})
    assert (tmp_path / "explained.png").stat().st_size > 0
