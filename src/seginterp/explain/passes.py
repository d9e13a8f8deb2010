"""The passes linear methods share: one backward of ``f`` serves every map that reads it.

Two passes cover every one-pass method but Integrated Gradients:

- :data:`GRADIENT`: one forward of ``x`` and one backward of ``f``, reading ``∂f/∂x`` and, at each
  requested layer, the activation ``a`` and ``∂f/∂a``. Saliency (``∂f/∂x``), Input×Gradient
  (``x · ∂f/∂x``) and layer Grad-CAM without ReLU (``Σ_c mean_hw(∂f/∂a_c) · a_c``) all read it.
- :data:`DEEPLIFT`: one DeepLIFT forward of ``(x, x₀)`` with Captum's Rescale hooks on every
  nonlinearity and one backward, reading the multipliers at the input and at each layer. DeepLIFT
  (``(x − x₀) · m_x``) and layer DeepLIFT (``(a − a₀) · m_a``) read it.

A map at a layer (or at the input) depends only on the backward rules of the modules after it, so
each read equals the Captum call that computes that map alone (``Saliency``, ``InputXGradient``,
``LayerGradCam``, ``DeepLift``, ``LayerDeepLift``): the same forward, the same backward graph, the
same formula. Tests check it bit for bit per encoder family (``tests/explain/test_passes.py``).

Layer activations are captured with Captum's own forward hooks (the hooked layer passes on a
clone of its output, as in ``compute_layer_gradients_and_eval``); every hook is removed on exit,
even on error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from captum._utils.gradient import _forward_layer_distributed_eval
from captum.attr import LayerDeepLift
from torch import nn


@dataclass(frozen=True)
class PassResult:
    """What one shared pass of ``f`` gives, for inputs ``x`` (B, C, H, W).

    Attributes:
        x: (B, C, H, W) the inputs, detached.
        baseline: (B, C, H, W) the DeepLIFT references ``x₀`` (the gradient pass keeps them for
            readers that need them).
        input_grad: (B, C, H, W) ``∂f/∂x`` (gradient pass) or the DeepLIFT multipliers ``m_x``.
        acts: layer name -> (B, C_l, h, w) activation at ``x``.
        base_acts: layer name -> (B, C_l, h, w) activation at ``x₀`` (DeepLIFT pass; empty for
            the gradient pass).
        grads: layer name -> (B, C_l, h, w) ``∂f/∂a`` or the DeepLIFT multipliers ``m_a``.
    """

    x: torch.Tensor
    baseline: torch.Tensor
    input_grad: torch.Tensor
    acts: dict[str, torch.Tensor]
    base_acts: dict[str, torch.Tensor]
    grads: dict[str, torch.Tensor]


RunPass = Callable[[nn.Module, torch.Tensor, torch.Tensor, dict[str, nn.Module]], PassResult]
"""``(f, x, baseline, modules) -> PassResult``: ``modules`` maps layer names to the modules whose
outputs are read (empty for model-level maps only)."""


@dataclass(frozen=True)
class Pass:
    """A pass several methods read: its name (grouping key) and how it is run."""

    name: str
    run: RunPass


@dataclass(frozen=True)
class SharedRule:
    """A method's map read from a shared pass: ``read(result, layer name or None) -> map``
    (model level (B, C, H, W); layer level (B, 1, h, w) channel-summed)."""

    source: Pass
    read: Callable[[PassResult, str | None], torch.Tensor]


def _eval_with_layers(
    forward: Callable[..., torch.Tensor],
    inputs: tuple[torch.Tensor, ...],
    x: torch.Tensor,
    layers: Sequence[nn.Module],
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One forward (Captum's layer hooks, removed on exit) and one backward of the sum of the
    outputs: (the gradient at ``x``, each layer's output) and the layers' gradients."""
    with torch.enable_grad():
        if layers:
            saved, out = _forward_layer_distributed_eval(
                forward,
                inputs,
                list(layers),
                forward_hook_with_return=True,
                require_layer_grads=True,
            )
            acts = [next(iter(saved[layer].values()))[0] for layer in layers]
        else:
            out, acts = forward(*inputs), []
        grads = torch.autograd.grad(torch.unbind(out), (x, *acts))
    return grads[0], [*acts, *grads[1:]]


def gradient_pass(
    f: nn.Module, x: torch.Tensor, baseline: torch.Tensor, modules: dict[str, nn.Module]
) -> PassResult:
    """One forward and one backward of ``f`` at ``x`` (B, C, H, W); see :class:`PassResult`."""
    xi = x.detach().clone().requires_grad_(True)
    grad, rest = _eval_with_layers(f, (xi,), xi, list(modules.values()))
    n = len(modules)
    acts = {k: a.detach() for k, a in zip(modules, rest[:n], strict=True)}
    grads = {k: g.detach() for k, g in zip(modules, rest[n:], strict=True)}
    return PassResult(xi.detach(), baseline, grad.detach(), acts, {}, grads)


class _DeepLiftHooks(LayerDeepLift):
    """Captum's DeepLift hooks on every supported nonlinearity of ``f`` (the layers' own
    included: the layers before them need their rules), applied for one pass."""

    def run(
        self, x: torch.Tensor, baseline: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        main_hooks = []
        try:
            main_hooks = self._hook_main_model()
            self.model.apply(lambda mod: self._register_hooks(mod, attribute_to_layer_input=False))
            forward = self._construct_forward_func(self.model, ((x,), (baseline,)), None, None)
            return _eval_with_layers(forward, (), x, list(self.layer))
        finally:
            self._remove_hooks(main_hooks)


def deeplift_pass(
    f: nn.Module, x: torch.Tensor, baseline: torch.Tensor, modules: dict[str, nn.Module]
) -> PassResult:
    """One DeepLIFT forward of ``(x, x₀)`` and one backward (Captum's Rescale rule); the
    multipliers at the input and at each layer, as ``DeepLift`` / ``LayerDeepLift`` compute them.
    ``x``, ``baseline``: (B, C, H, W)."""
    xi = x.detach().clone().requires_grad_(True)
    base = baseline.detach()
    grad, rest = _DeepLiftHooks(f, list(modules.values())).run(xi, base)
    n = len(modules)
    acts, base_acts, grads = {}, {}, {}
    for k, a, g in zip(modules, rest[:n], rest[n:], strict=True):
        at_x, at_base = a.detach().chunk(2)  # the forward ran on cat([x, x₀])
        acts[k], base_acts[k], grads[k] = at_x, at_base, g.detach().chunk(2)[0]
    return PassResult(xi.detach(), base, grad.detach(), acts, base_acts, grads)


GRADIENT = Pass("gradient", gradient_pass)
DEEPLIFT = Pass("deeplift", deeplift_pass)
