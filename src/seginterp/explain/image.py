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

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seginterp.explain.borders import border_pixels
from seginterp.explain.config import AttributeConfig
from seginterp.explain.engine import Explainer
from seginterp.explain.records import MapRecord
from seginterp.explain.store import MapKey

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


def explain_image(
    model: nn.Module,
    image: np.ndarray | torch.Tensor,
    *,
    threshold: float = 0.5,
    mean_rgb: tuple[float, float, float] | None = None,
    **config: Any,
) -> ImageExplanation:
    """Every configured map of ``image`` for ``model`` (module doc).

    Args:
        model: smp segmentation model, one output channel; used on a Captum-safe copy.
        image: see :func:`as_input`; of a size the model takes.
        threshold: the mask is ``sigmoid(logit) > threshold``.
        mean_rgb: the dataset mean colour, for ``deeplift_baseline="mean"``.
        config: fields of :class:`AttributeConfig` (``methods``, ``layer_methods``, ``layers``,
            ``deeplift_baseline``, ``nonlinear_mode``, ``sample_k``, ``device``, ...).
    """
    cfg = dataclasses.replace(AttributeConfig(), **{**DEFAULTS, **config})
    explainer = Explainer(model, cfg, mean_rgb=mean_rgb)
    x = as_input(image).to(explainer.device)
    try:
        with torch.no_grad():
            logits = explainer.model(x)
    except RuntimeError as e:
        raise ExplainImageError(f"the model cannot take a {tuple(x.shape)} input: {e}") from e
    if logits.ndim != 4 or logits.shape[0] != 1 or logits.shape[-2:] != x.shape[-2:]:
        raise ExplainImageError(f"the model must return (N, C, H, W) logits at the image's size, "
                                f"got {tuple(logits.shape)} for {tuple(x.shape)}")  # fmt: skip
    if logits.shape[1] != 1:
        raise ExplainImageError(
            f"the model has {logits.shape[1]} output channels; explain_image explains the border "
            "of a binary segment (one channel)"
        )
    probability = torch.sigmoid(logits[0, 0].double()).cpu().numpy()
    mask = probability > threshold
    border = border_pixels(mask)
    if not border.any():
        state = "empty" if not mask.any() else "the whole image"
        raise ExplainImageError(f"the predicted mask is {state}: no border to explain")
    records = explainer.explain(x, border)
    image_hwc = x[0].permute(1, 2, 0).cpu().numpy()
    return ImageExplanation(image_hwc, probability.astype(np.float32), mask, border, records,
                            dict(explainer.refused))  # fmt: skip
