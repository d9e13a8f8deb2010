"""The functions the maps are scored against: the mean logit over a pixel set.

A map explains ``f(x) = Σ_{h,w} W[h,w] · z_{h,w}(x)`` with ``W = 1_Q / |Q|`` for a pixel set ``Q``:
the frozen border ``B`` (``border_mean``), or the pixels a ``sampled(K)`` map averages over, or a
seeded subsample of them when a map is re-computed (``sample_mean(K)``). :class:`ScoredFunction`
carries the pixel set and the label the tables record.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from seginterp.explain.store import ImageMaps


def image_seed(seed: int, image_id: str) -> int:
    """A per-image seed that does not depend on which other images are evaluated."""
    return zlib.crc32(f"{seed}:{image_id}".encode())


def pixel_weights(mask: np.ndarray | Tensor) -> Tensor:
    """``W = 1_Q / |Q|`` (H, W) float64 for a pixel set ``Q`` given as a bool mask (H, W)."""
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, Tensor) else mask).bool()
    if m.ndim != 2:
        raise ValueError(f"mask must be (H, W), got {tuple(m.shape)}")
    n = int(m.sum())
    if n == 0:
        raise ValueError("empty pixel set: there is no mean logit to explain")
    return m.to(torch.float64) / n


def flat_weights(weights: Tensor, device: torch.device) -> Tensor:
    """(m, H, W) pixel weights ``W_j`` -> (m, H·W) float64 on ``device`` (:func:`mean_logits`)."""
    if weights.ndim != 3:
        raise ValueError(f"weights must be (m, H, W), got {tuple(weights.shape)}")
    return weights.to(device=device, dtype=torch.float64).flatten(1)


def mean_logits(model: torch.nn.Module, inputs: Tensor, w: Tensor) -> Tensor:
    """``f_j = Σ W_j · z`` of every output of ``model(inputs)`` (b, 1, H, W) and every flat pixel
    weight ``w`` (m, H·W) (:func:`flat_weights`) -> (b, m) float64, on ``inputs``' device.

    The perturbed forwards of infidelity, layer infidelity and deletion all read it.
    :func:`explained_change` sums ``z · W`` elementwise instead: through the matrix product its
    values move in the last bit (and the committed results with them).
    """
    return model(inputs)[:, 0].flatten(1).to(torch.float64) @ w.T


@torch.no_grad()
def explained_change(
    model: torch.nn.Module, x: Tensor, x0: Tensor, pixels: Sequence[np.ndarray]
) -> list[tuple[float, float]]:
    """``(f(x), f(x₀))`` of the mean logit over each pixel set (H, W) bool under ``model``
    (logits model, eval mode): ``Δf = f(x) − f(x₀)`` is the change a reference-based map
    explains, and its sign the direction the map's signs are relative to.

    Args:
        x, x0: (1, C, H, W) the input and its baseline, on the model's device.
    """
    z = model(torch.cat([x, x0]))[:, 0].to(torch.float64).cpu()  # (2, H, W)
    out = []
    for p in pixels:
        f = (z * pixel_weights(p)).flatten(1).sum(1)
        out.append((float(f[0]), float(f[1])))
    return out


def subsample_pixels(mask: np.ndarray, k: int, seed: int) -> np.ndarray:
    """At most ``k`` pixels of ``mask`` (H, W) bool, uniformly without replacement, seeded."""
    m = np.asarray(mask, dtype=bool)
    flat = np.flatnonzero(m)
    if len(flat) <= k:
        return m.copy()
    chosen = np.random.default_rng(seed).choice(flat, size=k, replace=False)
    out = np.zeros(m.size, dtype=bool)
    out[chosen] = True
    return out.reshape(m.shape)


@dataclass(frozen=True, eq=False)
class ScoredFunction:
    """The mean logit over ``pixels`` (H, W) bool; ``label`` names it in the tables.

    Compared by identity: maps that share one object share its perturbed forwards.
    """

    pixels: np.ndarray
    label: str

    @classmethod
    def border_mean(cls, border: np.ndarray) -> ScoredFunction:
        return cls(np.asarray(border, dtype=bool), "border_mean")

    @classmethod
    def sample_mean(cls, pixels: np.ndarray) -> ScoredFunction:
        p = np.asarray(pixels, dtype=bool)
        return cls(p, f"sample_mean({int(p.sum())})")

    @property
    def weights(self) -> Tensor:
        """(H, W) float64 pixel weights (:func:`pixel_weights`)."""
        return pixel_weights(self.pixels)


def image_functions(image: ImageMaps) -> list[ScoredFunction]:
    """The functions an image's stored maps explain, in this order: the border mean, then the
    mean over the stored sample when there is one."""
    functions = [ScoredFunction.border_mean(image.border)]
    if image.sample is not None:
        functions.append(ScoredFunction.sample_mean(image.sample))
    return functions


def stored_map_function(
    mode: str, functions: Sequence[ScoredFunction]
) -> tuple[ScoredFunction, str, bool]:
    """The function a stored map is scored against, its table label, and whether it differs
    from the function the map explains.

    A ``sampled(K)`` map explains the mean over its own pixels (``functions[1]``, from
    :func:`image_functions`); without a stored sample it is scored against the border mean and
    flagged as a mismatch. Other maps explain the border mean.
    """
    if not mode.startswith("sampled"):
        return functions[0], functions[0].label, False
    if len(functions) > 1:
        return functions[1], functions[1].label, False
    return functions[0], f"border_mean (map is {mode}: no sample stored)", True


def recompute_function(
    mode: str, image: ImageMaps, image_id: str, max_pixels: int | None, seed: int
) -> tuple[ScoredFunction, bool]:
    """The function a re-computed map explains, and whether its pixels were reduced.

    The map's own pixels (the stored sample for ``sampled(K)`` maps, else the border); maps that
    are not one-pass are reduced to a seeded sample of ``max_pixels`` when set.
    """
    own_sample = mode.startswith("sampled") and image.sample is not None
    pixels = image.sample if own_sample else image.border
    reduced = mode != "one-pass" and max_pixels is not None and int(pixels.sum()) > max_pixels
    if reduced:
        pixels = subsample_pixels(pixels, max_pixels, image_seed(seed + 2, image_id))
    if reduced or own_sample:
        return ScoredFunction.sample_mean(pixels), reduced
    return ScoredFunction.border_mean(pixels), reduced
