"""``<dataset>.attribute`` in params.yaml as a typed, validated dataclass."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from seginterp.core.params import StageConfig

if TYPE_CHECKING:
    from torch import nn

BASELINES: tuple[str, ...] = ("zeros", "blur", "mean")
NONLINEAR_MODES: tuple[str, ...] = ("exact", "sampled")


@dataclass(frozen=True)
class AttributeConfig(StageConfig):
    """What to explain and how: ``AttributeConfig.from_params(params, dataset)``.

    ``methods`` are explained at model level, ``layer_methods`` at each of ``layers`` (layer
    names of :mod:`seginterp.explain.layers`, or ``all``: every named layer of the model, resolved
    where the model is known by :func:`~seginterp.explain.layers.resolve_layers`); nonlinear
    maps (Guided Backprop, Guided Grad-CAM, Grad-CAM with ``gradcam_relu``) average over every
    border pixel (``nonlinear_mode: exact``) or over ``sample_k`` of them drawn with ``seed``
    (``sampled``).

    ``deeplift_baseline`` is the reference of every reference-based method (DeepLIFT, layer
    DeepLIFT and Integrated Gradients): ``zeros``; ``blur`` = the image blurred by a Gaussian of
    std ``blur_sigma`` × image side; ``mean`` = the dataset mean colour (``meta.json``).
    ``chunk_size`` bounds the batch of every batched computation (border pixels per batched
    backward, IG path steps per forward).
    """

    section: ClassVar[str] = "attribute"

    methods: tuple[str, ...] = (
        "saliency",
        "integrated_gradients",
        "deeplift",
        "guided_backprop",
        "guided_gradcam",
    )
    layer_methods: tuple[str, ...] = ("gradcam", "deeplift")
    layers: tuple[str, ...] | str = (
        "encoder1",
        "encoder2",
        "encoder3",
        "encoder4",
        "bottleneck",
        "decoder1",
        "decoder2",
        "decoder3",
        "decoder4",
        "decoder5",
    )
    guided_gradcam_layer: str = "decoder5"
    gradcam_relu: bool = False
    deeplift_baseline: str = "zeros"
    blur_sigma: float = 0.05
    ig_steps: int = 32
    nonlinear_mode: str = "exact"
    sample_k: int = 64
    chunk_size: int = 64
    max_images: int | None = None
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        from seginterp.explain.registry import LAYER_METHODS, METHODS

        METHODS.check(self.methods)
        LAYER_METHODS.check(self.layer_methods)
        if isinstance(self.layers, str):
            if self.layers != "all":
                raise ValueError(
                    f"attribute.layers must be a list of layer names or 'all', got {self.layers!r}"
                )
        elif len(set(self.layers)) != len(self.layers):
            raise ValueError(f"attribute.layers has duplicates: {list(self.layers)}")
        for field, values in (("methods", self.methods), ("layer_methods", self.layer_methods)):
            if len(set(values)) != len(values):
                raise ValueError(f"attribute.{field} has duplicates: {list(values)}")
        self.check_choice("deeplift_baseline", BASELINES)
        self.check_choice("nonlinear_mode", NONLINEAR_MODES)
        for name in ("ig_steps", "sample_k", "chunk_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"attribute.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_images is not None and self.max_images < 0:
            raise ValueError(f"attribute.max_images must be >= 0 or null, got {self.max_images}")
        if not self.blur_sigma > 0:
            raise ValueError(f"attribute.blur_sigma must be > 0, got {self.blur_sigma}")


def runnable_methods(
    cfg: AttributeConfig, model: nn.Module
) -> tuple[AttributeConfig, dict[str, str]]:
    """``cfg`` without the methods ``model`` cannot run, and method name -> why, for each removed.

    The DeepLIFT methods (model and layer level) are removed when DeepLIFT cannot be exact on the
    Captum-safe ``model`` (:func:`~seginterp.explain.deeplift_check.deeplift_blockers`: a
    normalisation by the input's own statistics, a product or softmax of the input...); the
    reason names the first offending module. Every other method runs on every model.
    """
    from seginterp.explain.deeplift_check import deeplift_blockers
    from seginterp.explain.registry import LAYER_METHODS, METHODS

    wanted = [METHODS.get(m) for m in cfg.methods]
    wanted += [LAYER_METHODS.get(m) for m in cfg.layer_methods]
    deeplift = sorted({method.name for method in wanted if method.deeplift})
    if not deeplift:
        return cfg, {}
    problems = deeplift_blockers(model)
    if not problems:
        return cfg, {}
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    reason = f"DeepLIFT cannot be exact on {type(model).__name__}: {problems[0]}{more}"
    kept = replace(
        cfg,
        methods=tuple(m for m in cfg.methods if m not in deeplift),
        layer_methods=tuple(m for m in cfg.layer_methods if m not in deeplift),
    )
    return kept, dict.fromkeys(deeplift, reason)
