"""Explain one image of your own model through the border of its predicted segment.

    import segmentation_models_pytorch as smp
    from seginterp.explain.image import explain_image

    result = explain_image(model, image)  # image: (H, W, 3) uint8 or float in [0, 1]
    result.maps["deeplift"]               # (3, H, W) model-level map
    result.maps["gradcam@decoder3"]       # (H, W) layer map, upsampled to the image
    result.delta_f["deeplift"]            # f(x) - f(x0): what the DeepLIFT map sums to
    result.figure("explained.png")        # the pipeline's per-image figure

The model is any segmentation-models-pytorch model with one output channel (``(N, 3, H, W)`` to
``(N, 1, H, W)`` logits), trained anywhere. As in the pipeline: the mask is ``sigmoid(logit) >
threshold``, ``B`` its border (:func:`~seginterp.explain.borders.border_pixels`), every map
explains the mean logit over ``B`` (the nonlinear methods over a seeded sample of it with
``nonlinear_mode: sampled``), the model is made Captum-safe on a copy, the maps that read one
shared pass come from one run of it (:class:`~seginterp.explain.engine.Explainer`), and a
method that cannot be exact on the model is refused (``refused`` says why). ``config``
overrides any field of :class:`~seginterp.explain.config.AttributeConfig`; layers default to
every named layer of the model (``all``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seginterp.explain.borders import border_pixels
from seginterp.explain.captum_safe import captum_safe, is_captum_safe
from seginterp.explain.config import AttributeConfig
from seginterp.explain.deeplift_check import UnsupportedEncoderError
from seginterp.explain.engine import Explainer
from seginterp.explain.layers import layer_table
from seginterp.explain.records import MapRecord
from seginterp.explain.store import MapKey
from seginterp.model.net import resolve_device

DEFAULTS: dict[str, Any] = {"layers": "all", "guided_gradcam_layer": "last"}
"""Where :func:`explain_image` departs from :class:`AttributeConfig`'s defaults."""


class ExplainImageError(ValueError):
    """The model or the image cannot be explained as given."""


@dataclass
class ImageExplanation:
    """One explained image: ``image`` (H, W, 3) float32 in [0, 1], ``probability`` (H, W) the
    model's sigmoid, ``mask`` and ``border`` (H, W) bool, one record per map (in the order model
    methods, then layer methods × layers) and the methods refused on this model (name -> why)."""

    image: np.ndarray
    probability: np.ndarray
    mask: np.ndarray
    border: np.ndarray
    records: list[MapRecord]
    refused: dict[str, str] = field(default_factory=dict)

    def _by_label(self, attr: str) -> dict[str, Any]:
        return {MapKey(r.method, r.layer).label: getattr(r, attr) for r in self.records}

    @property
    def maps(self) -> dict[str, np.ndarray]:
        """``method`` -> (3, H, W); ``method@layer`` -> (H, W) upsampled to the image."""
        return self._by_label("map")

    @property
    def modes(self) -> dict[str, str]:
        """Label -> ``one-pass``, ``exact`` or ``sampled(K)``."""
        return self._by_label("mode")

    @property
    def delta_f(self) -> dict[str, float]:
        """Label -> ``f(x) − f(x₀)`` for the maps that claim completeness."""
        return {k: v for k, v in self._by_label("delta_f").items() if v is not None}

    @property
    def completeness(self) -> dict[str, str]:
        """Label -> what the map's sum equals: ``exact``, ``approximate`` or ``partial``."""
        return {k: v for k, v in self._by_label("completeness").items() if v is not None}

    def save(self, directory: str | Path, stem: str, facts: dict[str, Any]) -> None:
        """``<stem>.npz`` (the pipeline's keys), ``<stem>.png`` (:meth:`figure`) and
        ``<stem>.json``: ``facts`` (image, model, class, seconds), the border size and, per map,
        its mode, its sum (a layer map's at the layer's resolution), ``Δf`` and what the sum
        equals; the refused methods."""
        from seginterp.core.io import write_json
        from seginterp.explain.store import write_image

        directory = Path(directory)
        write_image(directory, stem, self.border, "ok", self.records)
        self.figure(directory / f"{stem}.png")
        maps = {  # a layer map's sum is its native one's (at the layer), as in the table
            MapKey(r.method, r.layer).label: {
                "mode": r.mode, "sum": float((r.map if r.native is None else r.native).sum()),
                "delta_f": r.delta_f, "completeness": r.completeness}
            for r in self.records
        }  # fmt: skip
        summary = {**facts, "size": list(self.mask.shape), "mask_pixels": int(self.mask.sum()),
                   "border_pixels": int(self.border.sum()), "maps": maps,
                   "refused": self.refused}  # fmt: skip
        write_json(directory / f"{stem}.json", summary)

    def figure(self, path: str | Path, truth: np.ndarray | None = None) -> None:
        """The pipeline's per-image figure of the model-level maps at ``path`` (PNG): image with
        outlines | ground truth (``truth`` (H, W), when known) | prediction and border | maps."""
        from seginterp.evaluate.figures import ImageRow, image_rows_figure

        model_level = [r for r in self.records if r.layer is None]
        row = ImageRow(
            "image", self.image, truth, self.mask, self.border,
            {r.method: r.map for r in model_level}, {r.method: r.mode for r in model_level},
        )  # fmt: skip
        image_rows_figure([row], [r.method for r in model_level], path)


def read_rgb(path: str | Path) -> np.ndarray:
    """An RGB (or palette) image file as (H, W, 3) uint8; other channel counts are refused."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode not in ("RGB", "P"):
                bands = len(im.getbands())
                raise ExplainImageError(f"{path}: a {im.mode} image with {bands} channel(s); "
                                        "the model takes RGB (3 channels)")  # fmt: skip
            return np.array(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ExplainImageError(f"{path}: not a readable image ({err})") from None


def as_input(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) float32 in [0, 1] from an (H, W, 3) uint8 / float image or a (3, H, W) or
    (1, 3, H, W) float tensor."""
    t = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image)
    if t.ndim == 3 and t.shape[-1] == 3 and t.shape[0] != 3:
        t = t.permute(2, 0, 1)
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[:2] != (1, 3):
        raise ExplainImageError(
            f"image must be (H, W, 3), (3, H, W) or (1, 3, H, W) RGB, got {tuple(t.shape)}"
        )
    if t.dtype == torch.uint8:
        return t.float() / 255
    t = t.float()
    if t.min() < 0 or t.max() > 1:
        raise ExplainImageError("a float image must lie in [0, 1] (uint8 images are scaled)")
    return t


def class_mask(
    logits: torch.Tensor, k: int, *, multilabel: bool = False, threshold: float = 0.5
) -> np.ndarray:
    """(H, W) bool mask of class ``k`` from (C, H, W) logits: ``sigmoid > threshold`` for one
    channel or a multi-label model (per channel), else the argmax over channels (softmax)."""
    z = logits.double()
    if z.shape[0] == 1 or multilabel:
        return (torch.sigmoid(z[k]) > threshold).cpu().numpy()
    return (z.argmax(0) == k).cpu().numpy()


@contextlib.contextmanager
def one_channel(model: nn.Module, k: int) -> Iterator[nn.Module]:
    """``model`` answering (N, 1, H, W), its channel ``k``, inside the block (a forward hook)."""
    handle = model.register_forward_hook(lambda _m, _i, out: out[:, k : k + 1])
    try:
        yield model
    finally:
        handle.remove()


def _defaults(model: nn.Module, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The config for ``model`` and the methods refused for want of a layer: a model without an
    smp layer table has no ``all`` layers and no ``last`` (its layers are module paths)."""
    try:
        layer_table(model)
        return {**DEFAULTS, **config}, {}
    except UnsupportedEncoderError:
        out = {"layers": (), **config}
    methods = out.get("methods", AttributeConfig.methods)
    if "guided_gradcam_layer" in config or "guided_gradcam" not in methods:
        return out, {}
    out["methods"] = tuple(m for m in methods if m != "guided_gradcam")
    why = "needs guided_gradcam_layer, a module path (the model has no layer table)"
    return out, {"guided_gradcam": why}


def explain_image(
    model: nn.Module,
    image: np.ndarray | torch.Tensor,
    *,
    target_class: int | None = None,
    multilabel: bool = False,
    threshold: float = 0.5,
    mean_rgb: tuple[float, float, float] | None = None,
    **config: Any,
) -> ImageExplanation:
    """Every configured map of ``image`` for ``model`` (module doc).

    Args:
        model: maps (N, 3, H, W) to (N, C, H, W) logits; used on a Captum-safe copy.
        image: see :func:`as_input`; of a size the model takes.
        target_class: the class ``K`` whose border is explained (needed when ``C > 1``): the
            explained function is the mean class-K logit over the border of :func:`class_mask`.
        multilabel: ``C > 1`` channels are independent sigmoids (else a softmax, argmax mask).
        threshold: the mask is ``sigmoid(logit) > threshold`` (one channel, or multi-label).
        mean_rgb: the dataset mean colour, for ``deeplift_baseline="mean"``.
        config: fields of :class:`AttributeConfig` (``methods``, ``layer_methods``, ``layers``
            (layer names, or module paths such as ``decoder.blocks.2``), ``guided_gradcam_layer``,
            ``deeplift_baseline``, ``nonlinear_mode``, ``sample_k``, ``device``, ...).
    """
    overrides, refused = _defaults(model, config)
    cfg = dataclasses.replace(AttributeConfig(), **overrides)
    safe = model if is_captum_safe(model) else captum_safe(model)
    device = resolve_device(cfg.device)
    x = as_input(image).to(device)
    try:
        with torch.no_grad():
            logits = safe.to(device).eval()(x)
    except RuntimeError as e:
        raise ExplainImageError(f"the model cannot take a {tuple(x.shape)} input: {e}") from e
    if logits.ndim != 4 or logits.shape[0] != 1 or logits.shape[-2:] != x.shape[-2:]:
        raise ExplainImageError(f"the model must return (N, C, H, W) logits at the image's size, "
                                f"got {tuple(logits.shape)} for {tuple(x.shape)}")  # fmt: skip
    n_classes = logits.shape[1]
    if target_class is None and n_classes > 1:
        raise ExplainImageError(f"the model has {n_classes} output channels: name the class "
                                f"to explain (target_class 0 … {n_classes - 1})")  # fmt: skip
    k = target_class or 0
    if not 0 <= k < n_classes:
        raise ExplainImageError(f"class {k} does not exist: the model has {n_classes} channels")
    mask = class_mask(logits[0], k, multilabel=multilabel, threshold=threshold)
    border = border_pixels(mask)
    if not border.any():
        state = "empty" if not mask.any() else "the whole image"
        raise ExplainImageError(f"the predicted mask of class {k} is {state}: no border to explain")
    with one_channel(safe, k):
        explainer = Explainer(safe, cfg, mean_rgb=mean_rgb, device=device)
        records = explainer.explain(x, border)
    probability = torch.sigmoid(logits[0, k].double()) if n_classes == 1 or multilabel else (
        torch.softmax(logits[0].double(), 0)[k]
    )  # fmt: skip
    image_hwc = x[0].permute(1, 2, 0).cpu().numpy()
    return ImageExplanation(image_hwc, probability.cpu().numpy().astype(np.float32), mask, border,
                            records, {**refused, **explainer.refused})  # fmt: skip
