"""Layer DeepLIFT (Rescale) of ``f`` at a layer, summed over channels (linear).

Its sum equals ``Δf = f(x) − f(x₀)`` only at a layer every path crosses (encoder1, decoder4,
decoder5 of a depth-5 smp Unet); elsewhere it is ``Δf`` minus the DeepLIFT contributions of the
skip connections that bypass the layer (:mod:`seginterp.explain.completeness`).

Read from the shared DeepLIFT pass (:data:`~seginterp.explain.passes.DEEPLIFT`): one DeepLIFT
forward of ``(x, x₀)`` and one backward serve every layer and the model-level map, since the map
at a layer depends only on the multipliers of the modules after it.
"""

from __future__ import annotations

import torch
from captum.attr import LayerDeepLift

from seginterp.explain.methods.base import Method
from seginterp.explain.passes import DEEPLIFT, PassResult, SharedRule


def channel_sum(result: PassResult, layer: str | None) -> torch.Tensor:
    """``Σ_c (a_c − a₀_c) · m_c`` at ``layer`` from a DeepLIFT pass (B, 1, h, w), the channel
    sum of ``LayerDeepLift.attribute`` there."""
    if layer is None:
        raise ValueError("layer DeepLIFT needs a layer")
    m = (result.acts[layer] - result.base_acts[layer]) * result.grads[layer]
    return m.sum(dim=1, keepdim=True)


METHOD = Method(
    name="deeplift",
    level="layer",
    description="layer DeepLIFT (Rescale) of f, summed over channels",
    variant=lambda cfg: f"rescale, baseline={cfg.deeplift_baseline}, channel sum",
    one_pass=lambda f, x, baseline, cfg, layer: (
        LayerDeepLift(f, layer).attribute(x, baselines=baseline).sum(dim=1, keepdim=True)
    ),
    shared=SharedRule(DEEPLIFT, channel_sum),
    deeplift=True,
    completeness="exact",
)
