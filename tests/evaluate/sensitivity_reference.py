"""The reference of the sensitivity table: one Captum ``sensitivity_max`` call per map.

The evaluate stage re-computes all maps of an image at each input together and replays them
(:mod:`seginterp.evaluate.sensitivity`); its values must equal, bit for bit, those of this
reference (tests/evaluate/test_sensitivity.py), whose cost bench/sensitivity.py compares.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from seginterp.evaluate.sensitivity import _uniform_ball


def sensitivity(
    explain_fn: Callable[[Tensor], Tensor], x: Tensor, radius: float, n_samples: int, seed: int
) -> float:
    """Captum ``sensitivity_max`` of ``explain_fn(x (1, C, H, W)) -> map`` at ``x``, with the
    perturbations of the evaluate stage (``_uniform_ball(seed)``).

    ``sensitivity_max`` calls the explanation under ``torch.no_grad`` with a tuple of inputs
    (first call) or a batch of perturbed inputs, and needs a tuple back, while the attribution
    methods need gradients: the explanation runs one input at a time with gradients enabled.
    """
    from captum.metrics import sensitivity_max

    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be (1, C, H, W), got {tuple(x.shape)}")

    def explain(inputs: Tensor | tuple[Tensor, ...]) -> tuple[Tensor]:
        xs = inputs[0] if isinstance(inputs, tuple) else inputs
        out = []
        for i in range(xs.shape[0]):
            with torch.enable_grad():
                out.append(explain_fn(xs[i : i + 1]).detach())
        return (torch.cat(out),)

    value = sensitivity_max(
        explain,
        x,
        perturb_func=_uniform_ball(seed),
        perturb_radius=radius,
        n_perturb_samples=n_samples,
    )
    return float(value.reshape(-1)[0])
