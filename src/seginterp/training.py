"""Training loop: the paper's loss, Adam, best-validation-IoU checkpoint, exact resume.

Data are the prepared uint8 arrays (no image decoding per epoch). Everything random is seeded
from ``TrainConfig.seed`` and the epoch number, so a run interrupted after epoch k and resumed
from its checkpoint ends with the same weights as an uninterrupted run (on CPU).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .augment import AugmentConfig, build_augment
from .io import atomic_path
from .losses import LossWeights, segmentation_loss
from .metrics import iou_dice
from .model import ModelConfig, build_model, resolve_device, save_model
from .params import from_mapping, to_dict

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, empty split, ...)."""


@dataclass(frozen=True)
class TrainConfig:
    """``<dataset>.train`` in params.yaml."""

    epochs: int = 10
    batch_size: int = 8
    lr: float = 5e-4
    loss_weights: LossWeights = field(default_factory=LossWeights)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    num_workers: int = 0
    amp: bool = True
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.num_workers < 0:
            raise ValueError(
                "train: epochs and batch_size must be >= 1, lr > 0, num_workers >= 0; "
                f"got epochs={self.epochs} batch_size={self.batch_size} lr={self.lr} "
                f"num_workers={self.num_workers}"
            )


def train_config_from_params(section: dict[str, Any]) -> TrainConfig:
    return from_mapping(TrainConfig, section, "train")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds libraries that use the global RNG
    torch.manual_seed(seed)


def to_input(images: np.ndarray) -> Tensor:
    """uint8 images (N,H,W,3) -> float32 model input (N,3,H,W) in [0, 1]."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected images of shape (N,H,W,3), got {images.shape}")
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


class SegmentationArrays(Dataset):
    """Pairs from prepared arrays: images uint8 (N,H,W,3), masks {0,1} uint8 (N,H,W).

    Items are (x float32 (3,H,W) in [0,1], y float32 (1,H,W)); ``augment`` (albumentations)
    transforms image and mask together.
    """

    def __init__(self, images: np.ndarray, masks: np.ndarray, augment: Any = None) -> None:
        if images.shape[:3] != masks.shape:
            raise ValueError(f"images {images.shape} and masks {masks.shape} do not match")
        self.images, self.masks, self.augment = images, masks, augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        img, msk = np.array(self.images[i]), np.array(self.masks[i])  # copy out of the mmap
        if self.augment is not None:
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
        y = torch.from_numpy(np.asarray(masks[s : s + batch_size])).unsqueeze(1).float().to(device)
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


def fingerprint(model_cfg: ModelConfig, cfg: TrainConfig, train_images: np.ndarray) -> str:
    """Hash of what a resume checkpoint must agree with: both configs and the training data."""
    h = hashlib.sha256()
    h.update(json.dumps([to_dict(model_cfg), to_dict(cfg)], sort_keys=True).encode())
    h.update(str(train_images.shape).encode())
    step = max(1, len(train_images) // 16)
    h.update(np.ascontiguousarray(train_images[::step]).tobytes())
    return h.hexdigest()


@dataclass
class TrainResult:
    best_epoch: int
    best_val_iou: float
    history: list[dict[str, float]]
    resumed_from: int | None
    seconds: float


def train(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    train_data: tuple[np.ndarray, np.ndarray],
    val_data: tuple[np.ndarray, np.ndarray],
    model_path: Path,
    checkpoint_path: Path,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a U-Net; keep the best-validation-IoU model at ``model_path``.

    A resumable checkpoint is written to ``checkpoint_path`` after every epoch and removed after
    a successful run. If it exists and matches this run's configs and data, training resumes
    from it; ``on_epoch`` is then first called for the epochs already done (so loggers can
    rebuild their curves). Returns the history of per-epoch metrics.
    """
    t0 = time.perf_counter()
    (tr_x, tr_y), (va_x, va_y) = train_data, val_data
    if len(tr_x) == 0 or len(va_x) == 0:
        raise TrainingError(f"empty split: {len(tr_x)} training and {len(va_x)} validation images")
    device = resolve_device(cfg.device)
    use_amp = cfg.amp and device.type == "cuda"
    seed_everything(cfg.seed)
    model = build_model(model_cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    fp = fingerprint(model_cfg, cfg, tr_x)

    start, best_iou, best_epoch, history = 0, -1.0, -1, []
    best_state: dict[str, Tensor] | None = None
    resumed_from: int | None = None
    if checkpoint_path.exists():
        ck = torch.load(checkpoint_path, map_location=device, weights_only=True)
        if ck.get("fingerprint") != fp:
            log.warning("ignoring %s: it belongs to another config or data set", checkpoint_path)
        else:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            scaler.load_state_dict(ck["scaler"])
            start, best_iou, best_epoch = ck["epoch"] + 1, ck["best_val_iou"], ck["best_epoch"]
            best_state, history = ck["best_state"], [dict(h) for h in ck["history"]]
            resumed_from = start
            log.info("resuming from %s after epoch %d of %d", checkpoint_path, start, cfg.epochs)
            if on_epoch is not None:
                for e, h in enumerate(history):
                    on_epoch(e, h)

    augment = build_augment(cfg.augment, cfg.seed)
    dataset = SegmentationArrays(tr_x, tr_y, augment)
    drop_last = len(dataset) > cfg.batch_size and len(dataset) % cfg.batch_size == 1  # BN needs 2
    for epoch in range(start, cfg.epochs):
        model.train()
        # per-epoch seeds make a resumed run draw exactly what the uninterrupted one would
        torch.manual_seed(cfg.seed * 100_003 + epoch)
        if augment is not None:
            augment.set_random_seed(cfg.seed * 100_003 + epoch)
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        loader = DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            shuffle=True,
            generator=gen,
            num_workers=cfg.num_workers,
            drop_last=drop_last,
            pin_memory=device.type == "cuda",
        )
        sums = {"loss": 0.0, "iou": 0.0, "dice": 0.0}
        n_seen = 0
        bar = tqdm(
            loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False
        )
        for b, (x, y) in enumerate(bar):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, enabled=use_amp):
                logits = model(x)
            loss, _ = segmentation_loss(logits, y, cfg.loss_weights)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"non-finite loss ({loss.item()}) at epoch {epoch + 1}, batch {b + 1}; "
                    "lower train.lr or check the input data"
                )
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            with torch.no_grad():
                iou, dice = iou_dice(logits.detach().float() > 0, y > 0.5)
            n = len(x)
            sums["loss"] += loss.item() * n
            sums["iou"] += float(iou.sum())
            sums["dice"] += float(dice.sum())
            n_seen += n
            bar.set_postfix(loss=f"{loss.item():.3f}")
        val = evaluate(model, va_x, va_y, cfg.batch_size * 2, device, cfg.loss_weights)
        metrics = {f"train/{k}": v / n_seen for k, v in sums.items()}
        metrics.update({f"val/{k}": v for k, v in val.items()})
        history.append(metrics)
        log.info(
            "epoch %d/%d  train loss %.4f  val loss %.4f  val IoU %.4f  val Dice %.4f",
            epoch + 1, cfg.epochs, metrics["train/loss"], val["loss"], val["iou"], val["dice"],
        )  # fmt: skip
        if val["iou"] > best_iou:
            best_iou, best_epoch = val["iou"], epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        with atomic_path(checkpoint_path) as tmp:
            torch.save(
                {
                    "fingerprint": fp,
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scaler": scaler.state_dict(),
                    "best_val_iou": best_iou,
                    "best_epoch": best_epoch,
                    "best_state": best_state,
                    "history": history,
                },
                tmp,
            )
        if on_epoch is not None:
            on_epoch(epoch, metrics)

    if best_state is None:  # pragma: no cover - epochs >= 1 always sets it
        raise TrainingError("no epoch completed")
    model.load_state_dict(best_state)
    save_model(
        model_path,
        model,
        model_cfg,
        best_epoch=best_epoch + 1,
        best_val_iou=best_iou,
        epochs=cfg.epochs,
    )
    checkpoint_path.unlink(missing_ok=True)
    return TrainResult(best_epoch + 1, best_iou, history, resumed_from, time.perf_counter() - t0)


@dataclass(frozen=True)
class PredictConfig:
    """``<dataset>.predict`` in params.yaml."""

    threshold: float = 0.5
    batch_size: int = 16
    device: str = "auto"

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0 or self.batch_size < 1:
            raise ValueError(
                f"predict: threshold must be in (0, 1) and batch_size >= 1, got {self}"
            )


@torch.no_grad()
def predict_probs(
    model: nn.Module, images: np.ndarray, batch_size: int, device: torch.device
) -> np.ndarray:
    """Foreground probabilities sigmoid(z), float32 (N,H,W), for uint8 images (N,H,W,3)."""
    model.eval().to(device)
    out = []
    for s in range(0, len(images), batch_size):
        x = to_input(images[s : s + batch_size]).to(device)
        out.append(torch.sigmoid(model(x).float())[:, 0].cpu().numpy())
    if not out:
        return np.zeros((0, *images.shape[1:3]), np.float32)
    return np.concatenate(out).astype(np.float32)
