"""Saliency: the signed gradient of ``f`` (Captum ``Saliency``, ``abs=False``: linear).

Read from the shared gradient pass (:data:`~seginterp.explain.passes.GRADIENT`): ``∂f/∂x``.
"""

from __future__ import annotations

from captum.attr import Saliency

from seginterp.explain.methods.base import Method
from seginterp.explain.passes import GRADIENT, SharedRule

METHOD = Method(
    name="saliency",
    description="gradient of f (Captum Saliency, abs=False: signed, linear)",
    variant=lambda cfg: "signed (abs=False)",
    one_pass=lambda f, x, baseline, cfg, layer: Saliency(f).attribute(x, abs=False),
    shared=SharedRule(GRADIENT, lambda r, layer: r.input_grad),
)
