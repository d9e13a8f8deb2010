"""Synthetic lesion-like images: offline, seeded, quick (the default dataset of ``dvc repro``).

Each image is a smooth, textured skin/mucosa-tinted background with an illumination falloff, one
to three irregular blobs ("lesions": darker, browner, own texture, soft edge, shaded rim) and pixel
noise. About 5% of the images have no lesion (empty mask); about a quarter of the lesions are
placed across the image edge. Faint lesion-like "distractor" spots (not in the mask) keep the task
from being a plain colour threshold.

Everything is vectorised numpy per image (no per-pixel Python): 200 images at 96 px take well under
a second. Image ``i`` depends only on ``(seed, i)``, so the first k images do not change with
``n_images``. Same seed gives identical PNG bytes with the same numpy/Pillow/zlib (numpy's
transcendental functions may differ by an ulp across CPUs, which can flip a rounding).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from seginterp.core.params import ParamsError
from seginterp.data.sources.base import DownloadOptions, Pair, Reject, pair_images_masks

log = logging.getLogger(__name__)

#: Fraction of images without any lesion, and of lesions placed across the image edge.
P_EMPTY = 0.05
P_EDGE = 0.25


@dataclass(frozen=True)
class SyntheticParams:
    """``<D>.download`` of the synthetic source."""

    source: str = "synthetic"
    n_images: int = 200  # image/mask pairs to generate
    size: int = 96  # image side in px
    seed: int = 0  # generator seed

    def __post_init__(self) -> None:
        if self.n_images < 1:
            raise ParamsError(f"synthetic n_images must be >= 1, got {self.n_images}")
        if self.size < 16:
            raise ParamsError(f"synthetic size must be >= 16 px, got {self.size}")


def _smooth_noise(
    rng: np.random.Generator, size: int, n_modes: int, fmin: float, fmax: float
) -> np.ndarray:
    """A random sum of plane waves with 1/f amplitudes, ``fmin..fmax`` cycles per image.

    Returns (size, size) float64 with zero mean and unit standard deviation (in expectation).
    """
    f = rng.uniform(fmin, fmax, n_modes)
    ang = rng.uniform(0.0, 2 * np.pi, n_modes)
    phase = rng.uniform(0.0, 2 * np.pi, n_modes)
    amp = 1.0 / f
    amp /= np.sqrt(np.sum(amp**2) / 2.0)
    t = (np.arange(size) + 0.5) / size
    ax = 2 * np.pi * (f * np.cos(ang))[:, None] * t[None, :]  # (K, S) along x
    ay = 2 * np.pi * (f * np.sin(ang))[:, None] * t[None, :] + phase[:, None]  # (K, S) along y
    # cos(ax + ay) = cos(ax)cos(ay) - sin(ax)sin(ay): separable, so one (S,K)x(K,S) contraction.
    return np.einsum("ky,kx->yx", amp[:, None] * np.cos(ay), np.cos(ax)) - np.einsum(
        "ky,kx->yx", amp[:, None] * np.sin(ay), np.sin(ax)
    )


def _blob_distance(
    rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, size: int, n_blobs: int
) -> np.ndarray:
    """Signed radial distance (px, > 0 inside) to one irregular blob: (S, S) float64."""
    r0 = size * rng.uniform(0.09, 0.26) / np.sqrt(n_blobs)
    if rng.random() < P_EDGE:  # centre close to (or just beyond) one edge: the blob is cut
        along = rng.uniform(r0, size - r0)
        across = rng.uniform(-0.3 * r0, 0.6 * r0)
        side = rng.integers(4)
        cx, cy = [(across, along), (size - across, along), (along, across), (along, size - across)][
            side
        ]
    else:
        cx, cy = rng.uniform(r0, size - r0, 2)
    k = np.arange(2, 6)  # a few Fourier harmonics of the radius
    a = rng.uniform(0.0, 0.22, k.size) / k**0.7
    phi = rng.uniform(0.0, 2 * np.pi, k.size)
    dx, dy = xx - cx, yy - cy
    theta = np.arctan2(dy, dx)
    radius = r0 * (1.0 + np.tensordot(a, np.cos(k[:, None, None] * theta + phi[:, None, None]), 1))
    return radius - np.hypot(dx, dy)


def generate_pair(seed: int, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Image ``index`` of the synthetic set of ``seed``.

    Returns (image (S, S, 3) uint8 RGB, mask (S, S) uint8 in {0, 1}).
    """
    rng = np.random.default_rng([seed, index])
    c = (np.arange(size) + 0.5).astype(np.float64)
    yy, xx = np.meshgrid(c, c, indexing="ij")

    # Background: tint (skin to mucosa), low-frequency shading, mid-frequency texture, vignette.
    r = rng.uniform(0.68, 0.95)
    g = r * rng.uniform(0.55, 0.82)
    b = g * rng.uniform(0.72, 1.0)
    base = np.array([r, g, b])
    low = _smooth_noise(rng, size, 12, 0.5, 3.0)
    tex = _smooth_noise(rng, size, 24, 6.0, 16.0)
    rad2 = ((yy - size * rng.uniform(0.3, 0.7)) ** 2 + (xx - size * rng.uniform(0.3, 0.7)) ** 2) / (
        size * size
    )
    light = (1.0 - rng.uniform(0.0, 0.5) * rad2) * (1.0 + rng.uniform(0.03, 0.09) * low)
    img = base[None, None, :] * light[..., None]
    img += rng.uniform(0.01, 0.03) * tex[..., None] * np.array([1.0, 0.9, 0.8])

    # Distractors: faint lesion-like spots, not part of the mask.
    for _ in range(rng.integers(0, 3)):
        s = _blob_distance(rng, yy, xx, size, 2)
        alpha = np.clip(s / rng.uniform(2.0, 6.0), 0.0, 1.0)
        img *= 1.0 - rng.uniform(0.04, 0.10) * alpha[..., None]

    # Lesions: darker and browner, own texture, darker towards the centre, shaded rim.
    n_blobs = 0 if rng.random() < P_EMPTY else int(rng.choice([1, 2, 3], p=[0.75, 0.2, 0.05]))
    mask = np.zeros((size, size), dtype=bool)
    if n_blobs:
        sd = np.max([_blob_distance(rng, yy, xx, size, n_blobs) for _ in range(n_blobs)], axis=0)
        mask = sd > 0
        dark = rng.uniform(0.58, 0.82)
        lesion = base * dark * np.array([1.0, rng.uniform(0.72, 0.92), rng.uniform(0.65, 0.92)])
        ltex = _smooth_noise(rng, size, 24, 4.0, 14.0)
        depth = np.clip(sd / (0.25 * size), 0.0, 1.0)
        shade = light * (1.0 - rng.uniform(0.0, 0.25) * depth) * (1.0 + 0.08 * ltex)
        lesion_img = lesion[None, None, :] * shade[..., None]
        w = rng.uniform(0.7, 2.0)  # soft edge half-width in px
        alpha = np.clip(0.5 + sd / (2.0 * w), 0.0, 1.0)[..., None]
        img = img * (1.0 - alpha) + lesion_img * alpha
        rw = rng.uniform(1.0, 3.0)  # shaded rim just inside the border
        rim = np.exp(-(((sd - rw) / rw) ** 2))
        img *= 1.0 - rng.uniform(0.05, 0.18) * rim[..., None]

    img += rng.normal(0.0, rng.uniform(0.01, 0.035), img.shape)
    out = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return out, mask.astype(np.uint8)


def _save_png(path: Path, array: np.ndarray) -> None:
    """PNG with fixed settings (no metadata), so the bytes depend on the pixels only."""
    Image.fromarray(array).save(path, format="PNG", optimize=False, compress_level=6)


def download(cfg: SyntheticParams, out_dir: Path, opts: DownloadOptions | None = None) -> None:
    """Write ``out_dir/images/synth_<i:05d>.png`` (RGB) and ``out_dir/masks/`` (L, 0/255)."""
    del opts  # nothing is downloaded
    img_dir, mask_dir = Path(out_dir) / "images", Path(out_dir) / "masks"
    img_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    n_empty = 0
    for i in range(cfg.n_images):
        image, mask = generate_pair(cfg.seed, i, cfg.size)
        n_empty += int(not mask.any())
        name = f"synth_{i:05d}.png"
        _save_png(img_dir / name, image)
        _save_png(mask_dir / name, mask * np.uint8(255))
    log.info(
        "generated %d synthetic %d px images (seed %d, %d without lesion) in %s",
        cfg.n_images,
        cfg.size,
        cfg.seed,
        n_empty,
        out_dir,
    )


def scan(raw_dir: Path, cfg: SyntheticParams | None = None) -> tuple[list[Pair], list[Reject]]:
    """Pairs ``raw/images/<id>.png`` with ``raw/masks/<id>.png``."""
    raw_dir = Path(raw_dir)
    return pair_images_masks(raw_dir, [raw_dir / "images"], raw_dir / "masks")
