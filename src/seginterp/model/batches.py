"""Prepared uint8 arrays as model batches: the (augmented) training dataset, the validation pass."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from seginterp.model.losses import LossWeights, segmentation_loss
from seginterp.model.metrics import iou_dice
from seginterp.model.net import to_input


class SegmentationArrays(Dataset):
    """Pairs from prepared arrays: images uint8 (N,H,W,3), masks {0,1} uint8 (N,H,W).

    Items are (x float32 (3,H,W) in [0,1], y float32 (1,H,W)); ``augment`` (albumentations)
    transforms image and mask together. The augmentation of item ``i`` is drawn from a seed of
    (``epoch_seed``, ``i``) alone, so it does not depend on the DataLoader's worker count or on
    which process loads the item.
    """

    def __init__(self, images: np.ndarray, masks: np.ndarray, augment: Any = None) -> None:
        if images.shape[:3] != masks.shape:
            raise ValueError(f"images {images.shape} and masks {masks.shape} do not match")
        self.images, self.masks, self.augment = images, masks, augment
        self.epoch_seed = 0  # set by the training loop before each epoch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        img, msk = np.array(self.images[i]), np.array(self.masks[i])  # copy out of the mmap
        if self.augment is not None:
            self.augment.set_random_seed((self.epoch_seed * 1_000_003 + i) % 2**32)
            out = self.augment(image=img, mask=msk)
            img, msk = out["image"], out["mask"]
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(255.0)
        y = torch.from_numpy(np.ascontiguousarray(msk)).unsqueeze(0).float()
        return x, y


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: np.ndarray,
    masks: np.ndarray,
    batch_size: int,
    device: torch.device,
    weights: LossWeights,
    threshold: float = 0.5,
) -> dict[str, float]:
    """Loss and mean per-image IoU/Dice on unaugmented arrays."""
    model.eval()
    losses, ious, dices = [], [], []
    for s in range(0, len(images), batch_size):
        x = to_input(images[s : s + batch_size]).to(device)
        y = torch.from_numpy(np.array(masks[s : s + batch_size])).unsqueeze(1).float().to(device)
        logits = model(x)
        loss, _ = segmentation_loss(logits, y, weights)
        losses.append(loss.item() * len(x))
        iou, dice = iou_dice(torch.sigmoid(logits.float()) > threshold, y > 0.5)
        ious.append(iou.cpu())
        dices.append(dice.cpu())
    return {
        "loss": float(np.sum(losses) / len(images)),
        "iou": float(torch.cat(ious).mean()),
        "dice": float(torch.cat(dices).mean()),
    }
