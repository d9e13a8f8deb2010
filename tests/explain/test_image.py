"""explain_image: one image of a model trained elsewhere, as the pipeline explains it."""

import re
from pathlib import Path

import numpy as np
import pytest
import segmentation_models_pytorch as smp
import torch
from captum.attr import DeepLift, GuidedBackprop, LayerDeepLift, LayerGradCam, Saliency
from evaluate.toys import tiny_unet
from explain.captum_ref import float32_bound, per_pixel_mean, rel
from torch import nn

from seginterp.explain.borders import border_pixels
from seginterp.explain.captum_safe import captum_safe
from seginterp.explain.config import AttributeConfig
from seginterp.explain.engine import Explainer
from seginterp.explain.image import ExplainImageError, as_input, class_mask, explain_image
from seginterp.explain.layers import get_layer

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
    with pytest.raises(ExplainImageError, match="the predicted mask of class 0 is empty"):
        explain_image(model, _image(), **CONFIG)
    with pytest.raises(ValueError, match="not an smp segmentation model"):
        explain_image(nn.Conv2d(3, 1, 1), _image(), **CONFIG)  # layer names need a layer table
    with pytest.raises(ExplainImageError, match=r"must return \(N, C, H, W\) logits"):
        explain_image(nn.Sequential(nn.Conv2d(3, 2, 1), nn.Flatten()), _image(), **CONFIG)
    two = smp.Unet("resnet18", encoder_weights=None, classes=2, decoder_channels=(8, 8, 4, 4, 4))
    with pytest.raises(ExplainImageError, match=r"has 2 output channels: name the class"):
        explain_image(two.eval(), _image(), **CONFIG)
    with pytest.raises(ExplainImageError, match="class 2 does not exist"):
        explain_image(two.eval(), _image(), target_class=2, **CONFIG)


class AllLogits(nn.Module):
    """Every logit of every class, flattened: (B, C, H, W) -> (B, C*H*W); Captum's ``target``
    ``k*H*W + q`` is class k's logit at pixel q."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).flatten(1)


def test_each_class_is_explained_as_captum_explains_that_target():
    """A 3-class (softmax) U-Net: class k's mask is the argmax, its border ``B_k``, and every
    map is the mean over ``B_k`` of Captum's map for the target (k, pixel) of the full output."""
    torch.manual_seed(0)
    model = smp.Unet("resnet18", encoder_weights=None, classes=3, decoder_channels=(8, 8, 4, 4, 4))
    model, image = model.eval(), _image(32)
    cfg = dict(methods=("saliency", "deeplift", "guided_backprop"),
               layer_methods=("gradcam", "deeplift"), layers=("decoder5",),
               nonlinear_mode="exact", device="cpu")  # fmt: skip
    safe, x = captum_safe(model), as_input(image)
    with torch.no_grad():
        z = safe(x)[0]
    out, module, x0 = AllLogits(safe), get_layer(safe, "decoder5"), torch.zeros_like(x)
    tol = float32_bound(safe)
    for k in range(3):
        got = explain_image(model, image, target_class=k, **cfg)
        assert np.array_equal(got.mask, (z.argmax(0) == k).numpy())
        assert np.array_equal(got.mask, class_mask(z, k)) and got.border.any()
        targets = np.zeros((3, 32, 32), dtype=bool)
        targets[k] = got.border
        refs = {
            "saliency": per_pixel_mean(Saliency(out).attribute, x, targets, abs=False),
            "deeplift": per_pixel_mean(DeepLift(out).attribute, x, targets, baselines=x0),
            "guided_backprop": per_pixel_mean(GuidedBackprop(out).attribute, x, targets),
            "gradcam@decoder5": per_pixel_mean(
                LayerGradCam(out, module).attribute, x, targets, relu_attributions=False
            ),
            "deeplift@decoder5": per_pixel_mean(
                LayerDeepLift(out, module).attribute, x, targets, baselines=x0
            ).sum(1, keepdim=True),
        }
        natives = {f"{r.method}@{r.layer}": r.native for r in got.records if r.layer}
        for label, ref in refs.items():
            ours = natives.get(label, got.maps[label])
            assert rel(ours, ref[0].squeeze(0) if label in natives else ref[0]) <= tol, (k, label)
        assert got.modes["guided_backprop"] == "exact"
        assert got.maps["deeplift"].sum() == pytest.approx(got.delta_f["deeplift"], rel=1e-3)


def test_multilabel_masks_are_per_channel_sigmoids():
    z = torch.tensor([[[2.0, -1.0]], [[3.0, 0.5]]])  # (2, 1, 2): both channels may be on
    assert class_mask(z, 0).tolist() == [[False, False]]  # argmax: channel 1 wins both
    assert class_mask(z, 0, multilabel=True).tolist() == [[True, False]]
    assert class_mask(z, 1, multilabel=True, threshold=0.7).tolist() == [[True, False]]


class Plain(nn.Module):
    """A segmentation model that is not smp's: its layers are module paths."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())  # fmt: skip
        self.head = nn.Conv2d(8, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def test_a_model_without_a_layer_table_is_explained_at_its_module_paths():
    torch.manual_seed(0)
    model, image = Plain().eval(), _image(32)
    with torch.no_grad():  # about half the pixels foreground
        model.head.bias -= model(as_input(image)).median()
    got = explain_image(model, image, layer_methods=("gradcam",), layers=("body.2",),
                        nonlinear_mode="sampled", sample_k=8, device="cpu")  # fmt: skip
    assert "gradcam@body.2" in got.maps and got.maps["gradcam@body.2"].shape == (32, 32)
    assert (
        "guided_gradcam needs guided_gradcam_layer"
        in f"guided_gradcam {got.refused['guided_gradcam']}"
    )
    with_cam = explain_image(model, image, methods=("guided_gradcam",), layer_methods=(),
                             guided_gradcam_layer="body.2", sample_k=8, device="cpu")  # fmt: skip
    assert list(with_cam.maps) == ["guided_gradcam"] and not with_cam.refused
    bare = explain_image(model, image, methods=("saliency",), device="cpu")
    assert list(bare.maps) == ["saliency"]  # no layer table: no layers unless named
    with pytest.raises(ValueError, match=r"module path 'body.9' does not exist.*body, head"):
        explain_image(model, image, layers=("body.9",), device="cpu")


def test_readme_example_runs(tmp_path, monkeypatch):
    text = README.read_text()
    section = text[text.index("## Explain your own model") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "README: no Python example under 'Explain your own model'"
    monkeypatch.chdir(tmp_path)
    exec(compile(code.group(1), "README example", "exec"), {})
    assert (tmp_path / "explained.png").stat().st_size > 0
