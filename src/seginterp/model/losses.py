"""The paper's loss: w_bce·BCE + w_iou·(1 − soft IoU) + w_dice·(1 − soft Dice) (Eq. 5).

Each term is computed per image and the total is averaged over the batch, as in the paper
("the total loss is the mean of loss for all images").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

SMOOTH = 1.0
"""Additive smoothing of the soft IoU/Dice ratios: an empty mask predicted empty scores 1."""


@dataclass(frozen=True)
class LossWeights:
    """``<dataset>.train.loss_weights`` in params.yaml (paper: 1/1/1)."""

    bce: float = 1.0
    iou: float = 1.0
    dice: float = 1.0

    def __post_init__(self) -> None:
        if min(self.bce, self.iou, self.dice) < 0 or self.bce + self.iou + self.dice == 0:
            raise ValueError(f"loss weights must be >= 0 and not all 0, got {self}")


def soft_iou(probs: Tensor, target: Tensor, smooth: float = SMOOTH) -> Tensor:
    """Soft IoU per image. probs, target: (B, 1, H, W) in [0, 1] -> (B,)."""
    p, t = probs.flatten(1), target.flatten(1)
    inter = (p * t).sum(1)
    union = p.sum(1) + t.sum(1) - inter
    return (inter + smooth) / (union + smooth)


def soft_dice(probs: Tensor, target: Tensor, smooth: float = SMOOTH) -> Tensor:
    """Soft Dice per image. probs, target: (B, 1, H, W) in [0, 1] -> (B,)."""
    p, t = probs.flatten(1), target.flatten(1)
    inter = (p * t).sum(1)
    return (2 * inter + smooth) / (p.sum(1) + t.sum(1) + smooth)


def segmentation_loss(
    logits: Tensor, target: Tensor, weights: LossWeights = LossWeights()
) -> tuple[Tensor, dict[str, Tensor]]:
    """Combined loss from logits (B,1,H,W) and a {0,1} target (B,1,H,W).

    Returns the scalar loss (mean over images) and its per-term batch means (detached).
    """
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ")
    logits = logits.float()
    target = target.float()
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).mean(1)
    probs = torch.sigmoid(logits)
    iou = soft_iou(probs, target)
    dice = soft_dice(probs, target)
    per_image = weights.bce * bce + weights.iou * (1 - iou) + weights.dice * (1 - dice)
    parts = {
        "bce": bce.mean().detach(),
        "soft_iou": iou.mean().detach(),
        "soft_dice": dice.mean().detach(),
    }
    return per_image.mean(), parts
