"""DeepLIFT (Rescale) of ``f`` from the configured baseline (Captum ``DeepLift``).

Linear in the output cotangent: the multipliers are fixed by ``x`` and the baseline alone. Read
from the shared DeepLIFT pass (:data:`~seginterp.explain.passes.DEEPLIFT`): ``(x − x₀) · m_x``,
as ``DeepLift.attribute`` forms it.
"""

from __future__ import annotations

from captum.attr import DeepLift

from seginterp.explain.methods.base import Method
from seginterp.explain.passes import DEEPLIFT, SharedRule

METHOD = Method(
    name="deeplift",
    description="DeepLIFT (Rescale) of f",
    variant=lambda cfg: f"rescale, baseline={cfg.deeplift_baseline}",
    one_pass=lambda f, x, baseline, cfg, layer: DeepLift(f).attribute(x, baselines=baseline),
    shared=SharedRule(DEEPLIFT, lambda r, layer: (r.x - r.baseline) * r.input_grad),
    deeplift=True,
    completeness="exact",
)
