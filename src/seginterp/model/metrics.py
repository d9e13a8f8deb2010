"""Hard segmentation metrics per image: IoU and Dice of binary masks.

mIoU and mDice are the means of per-image scores, as the paper reports them. An image whose
ground truth and prediction are both empty scores 1 (a perfect answer); one empty and the
other not scores 0.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def confusion_counts(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(tp, fp, fn) per image for boolean/{0,1} masks of shape (B, ...)."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    p = pred.bool().flatten(1)
    t = target.bool().flatten(1)
    tp = (p & t).sum(1)
    fp = (p & ~t).sum(1)
    fn = (~p & t).sum(1)
    return tp, fp, fn


def iou_dice(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Per-image IoU and Dice, each (B,) float64; both-empty images score 1."""
    tp, fp, fn = (c.double() for c in confusion_counts(pred, target))
    union = tp + fp + fn
    empty = union == 0
    iou = torch.where(empty, torch.ones_like(tp), tp / union.clamp_min(1))
    dice = torch.where(empty, torch.ones_like(tp), 2 * tp / (2 * tp + fp + fn).clamp_min(1))
    return iou, dice


def iou_dice_np(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NumPy twin of :func:`iou_dice` for (N, H, W) masks."""
    iou, dice = iou_dice(torch.from_numpy(np.array(pred)), torch.from_numpy(np.array(target)))
    return iou.numpy(), dice.numpy()
