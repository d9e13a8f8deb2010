"""Prepared uint8 arrays as model batches: the (augmented) training dataset, the order of its
items in each epoch, the validation pass."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, DistributedSampler, Sampler

from seginterp.model.losses import LossWeights, segmentation_loss
from seginterp.model.metrics import iou_dice
from seginterp.model.net import to_input


class SegmentationArrays(Dataset):
    """Pairs from prepared arrays: images uint8 (N,H,W,3), masks {0,1} uint8 (N,H,W).

    Items are (x float32 (3,H,W) in [0,1], y float32 (1,H,W)); ``augment`` (albumentations)
    transforms image and mask together. The augmentation of item ``i`` is drawn from a seed of
    (``epoch_seed``, ``i``) alone, so it does not depend on the DataLoader's worker count or on
    which process loads the item. The key is an index ``i`` (``epoch_seed`` is then the
    attribute's) or an ``(epoch_seed, i)`` pair, as :class:`EpochSampler` yields them: the pair
    reaches persistent DataLoader workers, whose copy of the dataset never sees the attribute
    change.
    """

    def __init__(self, images: np.ndarray, masks: np.ndarray, augment: Any = None) -> None:
        if images.shape[:3] != masks.shape:
            raise ValueError(f"images {images.shape} and masks {masks.shape} do not match")
        self.images, self.masks, self.augment = images, masks, augment
        self.epoch_seed = 0  # set by the training loop before each epoch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Tensor, Tensor]:
        epoch_seed, i = key if isinstance(key, tuple) else (self.epoch_seed, key)
        img, msk = np.array(self.images[i]), np.array(self.masks[i])  # copy out of the mmap
        if self.augment is not None:
            self.augment.set_random_seed((epoch_seed * 1_000_003 + i) % 2**32)
            out = self.augment(image=img, mask=msk)
            img, msk = out["image"], out["mask"]
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(255.0)
        y = torch.from_numpy(np.ascontiguousarray(msk)).unsqueeze(0).float()
        return x, y


class EpochSampler(Sampler[tuple[int, int]]):
    """The order of one rank's training items in each epoch, as ``(epoch_seed, index)`` keys of
    :class:`SegmentationArrays`; call :meth:`set_epoch` before each epoch.

    The order and the augmentation seed depend only on (``seed``, epoch, ``rank``): a resumed
    run draws what the uninterrupted one would, and one DataLoader with persistent workers
    serves every epoch (the sampler is iterated in the main process; its keys carry the epoch
    to the workers). On one rank the order is a permutation drawn here, not inside the
    DataLoader (whose draws depend on the worker count); on several ranks it is a
    ``DistributedSampler`` share (padded to equal shares).
    """

    def __init__(self, n: int, seed: int, world: int = 1, rank: int = 0) -> None:
        self.n, self.seed, self.world, self.rank = n, seed, world, rank
        self.dist = (
            DistributedSampler(range(n), world, rank, shuffle=True, seed=seed * 100_003)
            if world > 1
            else None
        )
        self.epoch_seed = 0
        self.order: list[int] = list(range(n))

    def __len__(self) -> int:
        return len(self.dist) if self.dist is not None else self.n

    def set_epoch(self, epoch: int) -> None:
        """Draw the order and the augmentation seed of ``epoch`` (0-based)."""
        self.epoch_seed = self.seed * 100_003 + epoch
        if self.dist is not None:
            self.dist.set_epoch(epoch)
            self.order = list(self.dist)
        else:
            # (seed * world + rank) gives every rank its own stream; it is the seed at world 1
            seed = self.epoch_seed * self.world + self.rank
            gen = torch.Generator().manual_seed(seed)
            self.order = torch.randperm(self.n, generator=gen).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch_seed, i) for i in self.order])


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
