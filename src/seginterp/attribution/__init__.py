"""Border-pixel explanations (DESIGN §2): registries, config, and the engine.

``METHODS`` holds the model-level methods, ``LAYER_METHODS`` the layer-level ones; unknown names
fail listing the valid ones. :class:`Explainer` / :func:`explain_image` compute every configured
map of one image, each tagged with its mode: ``one-pass`` (exact by linearity), ``exact`` (batched
per-pixel mean) or ``sampled(K)``.
"""

from __future__ import annotations

from ..registry import Registry
from .methods import LAYER_SPECS, MODEL_SPECS, MethodSpec

METHODS: Registry[MethodSpec] = Registry("method")
LAYER_METHODS: Registry[MethodSpec] = Registry("layer method")
for _spec in MODEL_SPECS:
    METHODS.add(_spec.name, _spec)
for _spec in LAYER_SPECS:
    LAYER_METHODS.add(_spec.name, _spec)

from .config import AttributeConfig, attribute_config_from_params  # noqa: E402
from .engine import Explainer, MapRecord, explain_image, explain_map  # noqa: E402
from .target import BorderMeanLogit, PixelLogits, border_mean_logit, make_baseline  # noqa: E402

__all__ = [
    "LAYER_METHODS",
    "METHODS",
    "AttributeConfig",
    "BorderMeanLogit",
    "Explainer",
    "MapRecord",
    "MethodSpec",
    "PixelLogits",
    "attribute_config_from_params",
    "border_mean_logit",
    "explain_image",
    "explain_map",
    "make_baseline",
]
