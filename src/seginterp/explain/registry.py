"""Registries of the attribution methods: ``METHODS`` (model level), ``LAYER_METHODS``.

One line per method (its file in ``seginterp.explain.methods`` declares everything else); the
list order is the order of ``names()``. An unknown name fails listing the valid ones.
"""

from __future__ import annotations

from seginterp.core.registry import Registry
from seginterp.explain.methods import (
    deeplift,
    guided_backprop,
    guided_gradcam,
    input_x_gradient,
    integrated_gradients,
    layer_deeplift,
    layer_gradcam,
    saliency,
)
from seginterp.explain.methods.base import Method

_ALL: tuple[Method, ...] = (
    saliency.METHOD,
    input_x_gradient.METHOD,
    integrated_gradients.METHOD,
    deeplift.METHOD,
    guided_backprop.METHOD,
    guided_gradcam.METHOD,
    layer_gradcam.METHOD,
    layer_deeplift.METHOD,
)
METHODS: Registry[Method] = Registry.of("method", (m for m in _ALL if m.level != "layer"))
LAYER_METHODS: Registry[Method] = Registry.of(
    "layer method", (m for m in _ALL if m.level == "layer")
)
