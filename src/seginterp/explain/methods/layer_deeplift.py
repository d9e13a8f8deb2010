"""Layer DeepLIFT (Rescale) of ``f`` at a layer, summed over channels (linear).

Its sum equals ``Δf = f(x) − f(x₀)`` only at a layer every path crosses (encoder1, decoder4,
decoder5 of a depth-5 smp Unet); elsewhere it is ``Δf`` minus the DeepLIFT contributions of the
skip connections that bypass the layer (:mod:`seginterp.explain.completeness`).
"""

from __future__ import annotations

from captum.attr import LayerDeepLift

from seginterp.explain.methods.base import Method

METHOD = Method(
    name="deeplift",
    level="layer",
    description="layer DeepLIFT (Rescale) of f, summed over channels",
    variant=lambda cfg: f"rescale, baseline={cfg.deeplift_baseline}, channel sum",
    one_pass=lambda f, x, baseline, cfg, layer: (
        LayerDeepLift(f, layer).attribute(x, baselines=baseline).sum(dim=1, keepdim=True)
    ),
    deeplift=True,
    completeness="exact",
)
