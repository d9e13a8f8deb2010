"""What is explained: the border-mean logit, the explained pixels, the reference inputs.

``f(x) = (1/|B|) Σ_{q∈B} z_q(x)``: the mean logit over the frozen border ``B``. Maps of linear
methods of ``f`` equal the mean over ``q`` of the per-pixel maps of ``z_q``; nonlinear maps are
means over a :class:`PixelSet` (all of ``B``, or a seeded sample of it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def as_border(border: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``border`` (H, W) as a bool tensor; other shapes fail."""
    b = torch.as_tensor(np.asarray(border) if not isinstance(border, torch.Tensor) else border)
    if b.ndim != 2:
        raise ValueError(f"border must be (H, W), got shape {tuple(b.shape)}")
    return b.bool()


class BorderMeanLogit(nn.Module):
    """``f(x)``: mean logit over the border pixels; (B, C, H, W) -> (B,).

    An ``nn.Module`` holding the model, so Captum's DeepLift finds and hooks its nonlinearities.
    """

    def __init__(self, model: nn.Module, border: np.ndarray | torch.Tensor) -> None:
        super().__init__()
        b = as_border(border)
        n = int(b.sum())
        if n == 0:
            raise ValueError("border is empty: there is no border-mean logit to explain")
        self.model = model
        self.n_border = n
        p = next(model.parameters(), None)
        w = b.to(torch.float32) / n
        self.register_buffer("weight", w.to(p.device) if p is not None else w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x)[:, 0]  # (B, H, W) logits
        if z.shape[-2:] != self.weight.shape:
            raise ValueError(f"logits {tuple(z.shape[-2:])} vs border {tuple(self.weight.shape)}")
        return (z * self.weight).sum(dim=(1, 2))


def border_mean_logit(model: nn.Module, border: np.ndarray | torch.Tensor) -> BorderMeanLogit:
    """The explained function ``f`` for ``border`` (H, W) bool; ``f(x)`` has shape (B,)."""
    return BorderMeanLogit(model, border)


@dataclass(frozen=True)
class PixelSet:
    """The pixels a map explains (the mean logit over them) or averages over.

    ``border``: (H, W) bool, the pixels; ``mode``: ``one-pass`` (a linear map of their mean
    logit), ``exact`` (the mean over all of ``B``, or over a given pixel set) or ``sampled(K)``
    (a seeded sample of ``B``).
    """

    border: np.ndarray
    mode: str

    @property
    def flat(self) -> np.ndarray:
        """(k,) int64 sorted flat indices ``row * W + col``."""
        return np.flatnonzero(self.border.ravel())

    @property
    def n(self) -> int:
        return int(np.count_nonzero(self.border))

    @property
    def mask(self) -> np.ndarray | None:
        """(H, W) bool of a sample (the pixels a ``sampled(K)`` map explains), else None."""
        return self.border if self.mode.startswith("sampled") else None

    @property
    def key(self) -> tuple[tuple[int, ...], bytes]:
        """Equal for equal pixels (any mode)."""
        return self.border.shape, self.border.tobytes()

    @classmethod
    def whole(cls, border: np.ndarray, mode: str = "exact") -> PixelSet:
        """Every pixel of ``border`` (H, W) bool."""
        return cls(np.array(border, dtype=bool), mode)

    @classmethod
    def sample(cls, border: np.ndarray, k: int, seed: int, key: int) -> PixelSet:
        """``k`` pixels of ``border`` drawn without replacement by the generator seeded with
        ``[seed, key]``; all of them (``exact``) when ``k`` >= |B|."""
        border = np.asarray(border)
        flat = np.flatnonzero(border.ravel())
        if k >= len(flat):
            return cls.whole(border)
        rng = np.random.default_rng([seed, int(key)])
        chosen = np.sort(rng.choice(flat, size=k, replace=False))
        mask = np.zeros(border.size, dtype=bool)
        mask[chosen] = True
        return cls(mask.reshape(border.shape), f"sampled({k})")

    def tensor(self, device: torch.device) -> torch.Tensor:
        """(k,) long tensor of ``flat`` on ``device``."""
        return torch.as_tensor(self.flat, dtype=torch.long, device=device)


class PixelLogits(nn.Module):
    """Per-pixel logits, flattened: (B, C, H, W) -> (B, H*W); Captum ``target=q`` is ``z_q``.

    The reference the per-pixel definitions are checked against (tests, bench/attribution.py).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, 0].flatten(1)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W) with reflect padding (radius 3σ, clipped)."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    h, w = x.shape[-2:]
    radius = max(1, min(math.ceil(3 * sigma), min(h, w) - 1))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    y = F.pad(x, (radius, radius, 0, 0), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    y = F.pad(y, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def make_baseline(
    x: torch.Tensor,
    kind: str,
    *,
    mean_rgb: Sequence[float] | None = None,
    blur_sigma: float = 0.05,
) -> torch.Tensor:
    """Reference input like ``x`` (B, C, H, W): ``zeros``, ``blur`` (σ = blur_sigma × side) or
    ``mean`` (dataset mean colour, inputs in [0, 1])."""
    if kind == "zeros":
        return torch.zeros_like(x)
    if kind == "blur":
        return gaussian_blur(x, blur_sigma * max(x.shape[-2:]))
    if kind == "mean":
        if mean_rgb is None or len(mean_rgb) != x.shape[1]:
            raise ValueError(
                f"baseline 'mean' needs mean_rgb with {x.shape[1]} values (meta.json), "
                f"got {mean_rgb}"
            )
        m = torch.as_tensor(list(mean_rgb), dtype=x.dtype, device=x.device)
        return m.view(1, -1, 1, 1).expand_as(x).clone()
    raise ValueError(f"unknown baseline {kind!r}; valid: zeros, blur, mean")
