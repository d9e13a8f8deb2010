"""Layer DeepLIFT (Rescale) of ``f`` at a layer, summed over channels (linear).

Its sum equals ``Δf = f(x) − f(x₀)`` only at a layer every path crosses (encoder1, decoder4,
decoder5 of a depth-5 smp Unet); elsewhere it is ``Δf`` minus the DeepLIFT contributions of the
skip connections that bypass the layer (:mod:`seginterp.explain.completeness`).

At many layers, one DeepLIFT forward of ``(x, x₀)`` and one backward serve them all
(:func:`one_pass_layers`): the map at a layer depends only on the multipliers of the modules
after it, so Captum's rule hooks on every nonlinearity (those at the requested layers included)
give each layer the multiplier ``LayerDeepLift`` alone would.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from captum._utils.gradient import compute_layer_gradients_and_eval
from captum.attr import LayerDeepLift
from torch import nn

from seginterp.explain.config import AttributeConfig
from seginterp.explain.methods.base import Method


class AllLayersDeepLift(LayerDeepLift):
    """Captum's ``LayerDeepLift`` reading every layer of ``layers`` from one pass.

    ``LayerDeepLift`` leaves its own layer without the DeepLIFT hook (the map at a layer does not
    depend on that layer's rule); here every supported nonlinearity is hooked, because the
    requested layers' rules are needed by the layers before them.
    """

    def __init__(self, f: nn.Module, layers: Sequence[nn.Module]) -> None:
        super().__init__(f, list(layers))

    def attribute_layers(self, x: torch.Tensor, baseline: torch.Tensor) -> list[torch.Tensor]:
        """``(a − a₀) · m`` at each layer, as ``LayerDeepLift.attribute(x, baseline)`` computes
        it: one (B, C, h, w) per layer, in order. Hooks are removed on exit, even on error."""
        inputs, baselines = (x,), (baseline,)
        main_hooks = []
        try:
            main_hooks = self._hook_main_model()
            self.model.apply(lambda mod: self._register_hooks(mod, attribute_to_layer_input=False))
            forward = self._construct_forward_func(self.model, (inputs, baselines), None, None)
            grads, acts = compute_layer_gradients_and_eval(
                forward,
                list(self.layer),
                inputs,
                output_fn=lambda out: tuple(t.chunk(2) for t in out),
            )
            # per layer: ((∂/∂a, ∂/∂a₀),) and ((a, a₀),): the input and baseline halves
            return [(a[0][0] - a[0][1]) * g[0][0] for g, a in zip(grads, acts, strict=True)]
        finally:
            self._remove_hooks(main_hooks)


def one_pass_layers(
    f: nn.Module,
    x: torch.Tensor,
    baseline: torch.Tensor,
    _c: AttributeConfig,
    modules: dict[str, nn.Module],
) -> dict[str, torch.Tensor]:
    """Layer DeepLIFT at every layer of ``modules`` from one pass, each summed over channels."""
    maps = AllLayersDeepLift(f, list(modules.values())).attribute_layers(x, baseline)
    return {name: m.sum(dim=1, keepdim=True) for name, m in zip(modules, maps, strict=True)}


METHOD = Method(
    name="deeplift",
    level="layer",
    description="layer DeepLIFT (Rescale) of f, summed over channels",
    variant=lambda cfg: f"rescale, baseline={cfg.deeplift_baseline}, channel sum",
    one_pass=lambda f, x, baseline, cfg, layer: (
        LayerDeepLift(f, layer).attribute(x, baselines=baseline).sum(dim=1, keepdim=True)
    ),
    one_pass_layers=one_pass_layers,
    deeplift=True,
    completeness="exact",
)
