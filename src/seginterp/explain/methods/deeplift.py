"""DeepLIFT (Rescale) of ``f`` from the configured baseline (Captum ``DeepLift``).

Linear in the output cotangent: the multipliers are fixed by ``x`` and the baseline alone.
"""

from __future__ import annotations

from captum.attr import DeepLift

from seginterp.explain.methods.base import Method

METHOD = Method(
    name="deeplift",
    description="DeepLIFT (Rescale) of f",
    variant=lambda cfg: f"rescale, baseline={cfg.deeplift_baseline}",
    one_pass=lambda f, x, baseline, cfg, layer: DeepLift(f).attribute(x, baselines=baseline),
    deeplift=True,
    completeness="exact",
)
