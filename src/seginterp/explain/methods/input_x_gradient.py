"""Input × gradient of ``f`` (Captum ``InputXGradient``: linear)."""

from __future__ import annotations

from captum.attr import InputXGradient

from seginterp.explain.methods.base import Method

METHOD = Method(
    name="input_x_gradient",
    description="input × gradient of f",
    one_pass=lambda f, x, baseline, cfg, layer: InputXGradient(f).attribute(x),
)
