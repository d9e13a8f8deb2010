"""One map of one image as the engine returns it: :class:`MapRecord`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from seginterp.explain.config import AttributeConfig
    from seginterp.explain.methods.base import Method
    from seginterp.explain.target import PixelSet


@dataclass
class MapRecord:
    """One map of one image.

    ``map``: model level (C, H, W) float32 in input channels; layer level (H, W) float32, the
    channel-summed layer map upsampled (bilinear) to the input. ``native``: layer level (h, w)
    at the layer's resolution, else None. ``pixels``: (H, W) bool, the sampled pixels a
    ``sampled(K)`` map explains, else None. ``shared``: produced by one pass together with
    other maps (the exact pass of the nonlinear maps, or a shared gradient or DeepLIFT pass of
    the linear maps); its ``seconds`` is then that whole pass's time, which those maps share (do
    not sum them). ``delta_f``: ``f(x) − f(x₀)`` (float64) for a method that claims
    completeness, else None. ``completeness``: what the map's sum equals:
    ``exact`` (Δf, up to float rounding: DeepLIFT, layer DeepLIFT at a cut layer),
    ``approximate`` (Δf up to the path-integral error: Integrated Gradients), ``partial`` (a layer
    that skip connections bypass: Δf minus the DeepLIFT contributions of those skips), else None.
    """

    method: str
    layer: str | None
    mode: str
    variant: str
    map: np.ndarray
    native: np.ndarray | None
    seconds: float
    n_border: int
    n_explained: int
    pixels: np.ndarray | None = None
    shared: bool = False
    delta_f: float | None = None
    completeness: str | None = None

    @classmethod
    def of(
        cls,
        method: Method,
        layer: str | None,
        cfg: AttributeConfig,
        m: torch.Tensor,
        pixels: PixelSet,
        seconds: float,
        shared: bool,
        n_border: int,
    ) -> MapRecord:
        """The record of map ``m`` of one image (model level (1, C, H, W), layer level
        (1, 1, h, w)) explaining ``pixels``, made in ``seconds`` (with other maps: ``shared``)."""
        if layer is None:
            arr, native = m[0].float().cpu().numpy(), None
        else:
            arr = upsample(m, pixels.border.shape)[0, 0].float().cpu().numpy()
            native = m[0, 0].float().cpu().numpy()
        return cls(
            method.name,
            layer,
            mode=pixels.mode,
            variant=method.variant(cfg),
            map=arr,
            native=native,
            seconds=seconds,
            n_border=n_border,
            n_explained=pixels.n,
            pixels=pixels.mask,
            shared=shared,
        )


def upsample(native: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """(B, 1, h, w) -> (B, 1, H, W), bilinear."""
    if tuple(native.shape[-2:]) == tuple(size):
        return native
    return F.interpolate(native, size=size, mode="bilinear", align_corners=False)
