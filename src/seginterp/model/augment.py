"""The paper's training augmentations (albumentations), applied to image and mask together.

Flips, Gaussian blur, transpose, zoom, rotation and shift, each with probability ``p``
(paper: 0.5). Validation and test data are never augmented.
"""

from __future__ import annotations

from dataclasses import dataclass

import albumentations as A
import cv2


@dataclass(frozen=True)
class AugmentConfig:
    """``<dataset>.train.augment`` in params.yaml."""

    p: float = 0.5
    hflip: bool = True
    vflip: bool = True
    transpose: bool = True
    blur: bool = True
    scale_limit: float = 0.1
    rotate_limit: float = 15.0
    shift_limit: float = 0.0625

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"augment.p must be in [0, 1], got {self.p}")
        for name in ("scale_limit", "rotate_limit", "shift_limit"):
            if getattr(self, name) < 0:
                raise ValueError(f"augment.{name} must be >= 0, got {getattr(self, name)}")


def build_augment(cfg: AugmentConfig, seed: int) -> A.Compose | None:
    """A seeded Compose over (image uint8 (H,W,3), mask uint8 (H,W)); None when nothing is on."""
    p = cfg.p
    ops: list[A.BasicTransform] = []
    if cfg.hflip:
        ops.append(A.HorizontalFlip(p=p))
    if cfg.vflip:
        ops.append(A.VerticalFlip(p=p))
    if cfg.transpose:
        ops.append(A.Transpose(p=p))
    if cfg.blur:
        ops.append(A.GaussianBlur(blur_limit=(3, 5), p=p))
    affine = {"border_mode": cv2.BORDER_REFLECT_101, "interpolation": cv2.INTER_LINEAR}
    if cfg.scale_limit > 0:  # zoom
        s = cfg.scale_limit
        ops.append(A.Affine(scale=(1 - s, 1 + s), p=p, **affine))
    if cfg.rotate_limit > 0:
        r = cfg.rotate_limit
        ops.append(A.Affine(rotate=(-r, r), p=p, **affine))
    if cfg.shift_limit > 0:
        t = cfg.shift_limit
        ops.append(A.Affine(translate_percent=(-t, t), p=p, **affine))
    if not ops or p == 0.0:
        return None
    return A.Compose(ops, seed=seed)
