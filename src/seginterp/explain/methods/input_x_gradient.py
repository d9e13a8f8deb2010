"""Input × gradient of ``f`` (Captum ``InputXGradient``: linear).

Read from the shared gradient pass (:data:`~seginterp.explain.passes.GRADIENT`): ``x · ∂f/∂x``.
"""

from __future__ import annotations

from captum.attr import InputXGradient

from seginterp.explain.methods.base import Method
from seginterp.explain.passes import GRADIENT, SharedRule

METHOD = Method(
    name="input_x_gradient",
    description="input × gradient of f",
    one_pass=lambda f, x, baseline, cfg, layer: InputXGradient(f).attribute(x),
    shared=SharedRule(GRADIENT, lambda r, layer: r.x * r.input_grad),
)
