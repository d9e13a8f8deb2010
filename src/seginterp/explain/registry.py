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

METHODS: Registry[Method] = Registry("method")
LAYER_METHODS: Registry[Method] = Registry("layer method")
for _method in (
    saliency.METHOD,
    input_x_gradient.METHOD,
    integrated_gradients.METHOD,
    deeplift.METHOD,
    guided_backprop.METHOD,
    guided_gradcam.METHOD,
    layer_gradcam.METHOD,
    layer_deeplift.METHOD,
):
    (LAYER_METHODS if _method.level == "layer" else METHODS).add(_method.name, _method)
