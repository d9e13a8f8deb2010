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
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from . import distributed as dist
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
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    return x.contiguous().float().div_(255.0)  # NCHW-contiguous: ~10% faster convs on CPU


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

    Under torchrun (process group initialized, see ``seginterp.distributed``) the model is
    wrapped in DDP and each rank trains on its ``DistributedSampler`` share; validation runs on
    rank 0 and its metrics are broadcast, so ``history``, the best epoch and ``on_epoch``'s
    arguments are identical on every rank (``on_epoch`` is called on every rank: log on rank 0
    only). Only rank 0 writes ``model_path`` and the checkpoint; every rank resumes from the
    same checkpoint, which must then sit on a filesystem all ranks see.
    """
    t0 = time.perf_counter()
    (tr_x, tr_y), (va_x, va_y) = train_data, val_data
    if len(tr_x) == 0 or len(va_x) == 0:
        raise TrainingError(f"empty split: {len(tr_x)} training and {len(va_x)} validation images")
    device = dist.local_device(resolve_device(cfg.device))
    rank, world, main = dist.rank(), dist.world_size(), dist.is_main()
    use_amp = cfg.amp and device.type == "cuda"
    seed_everything(cfg.seed)
    model = build_model(model_cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    fp = fingerprint(model_cfg, cfg, tr_x)

    start, best_iou, best_epoch, history = 0, -1.0, -1, []
    best_state: dict[str, Tensor] | None = None
    resumed_from: int | None = None
    found = checkpoint_path.exists()
    if world > 1 and dist.broadcast(found) != found:
        raise TrainingError(
            f"rank {rank} {'sees' if found else 'does not see'} {checkpoint_path} but rank 0 "
            "does not agree: put the resume directory on a filesystem shared by all ranks"
        )
    if found:
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

    net = model  # the bare module: state dicts, validation and the saved model use it
    if world > 1:
        model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    augment = build_augment(cfg.augment, cfg.seed)
    dataset = SegmentationArrays(tr_x, tr_y, augment)
    sampler = (
        DistributedSampler(dataset, world, rank, shuffle=True, seed=cfg.seed * 100_003)
        if world > 1
        else None
    )
    n_local = len(sampler) if sampler is not None else len(dataset)
    drop_last = n_local > cfg.batch_size and n_local % cfg.batch_size == 1  # BN needs 2
    for epoch in range(start, cfg.epochs):
        model.train()
        # per-epoch seeds make a resumed run draw exactly what the uninterrupted one would;
        # (seed * world + rank) gives every rank its own stream and is the seed itself at world 1
        seed = (cfg.seed * 100_003 + epoch) * world + rank
        torch.manual_seed(seed)
        if augment is not None:
            augment.set_random_seed(seed)
        if sampler is not None:
            sampler.set_epoch(epoch)
            order: dict[str, Any] = {"sampler": sampler}
        else:
            order = {"shuffle": True, "generator": torch.Generator().manual_seed(seed)}
        loader = DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            num_workers=cfg.num_workers,
            drop_last=drop_last,
            pin_memory=device.type == "cuda",
            **order,
        )
        sums = {"loss": 0.0, "iou": 0.0, "dice": 0.0}
        n_seen = 0
        bar = tqdm(
            loader,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            disable=not (progress and main),
            leave=False,
        )
        for b, (x, y) in enumerate(bar):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, enabled=use_amp):
                logits = model(x)
            loss, _ = segmentation_loss(logits, y, cfg.loss_weights)
            # every rank must stop together, else the others wait forever in the all-reduce
            (loss_any,) = dist.all_sum([loss.item()]) if world > 1 else (loss.item(),)
            if not np.isfinite(loss_any):
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
        if world > 1:  # sums over every rank's share (DistributedSampler pads to equal shares)
            *totals, n_seen = dist.all_sum([*sums.values(), n_seen])
            sums = dict(zip(sums, totals, strict=True))
        # rank 0 validates: BatchNorm statistics of the other ranks differ after their last step
        val = (
            evaluate(net, va_x, va_y, cfg.batch_size * 2, device, cfg.loss_weights) if main else {}
        )
        val = dist.broadcast(val)
        metrics = {f"train/{k}": v / n_seen for k, v in sums.items()}
        metrics.update({f"val/{k}": v for k, v in val.items()})
        history.append(metrics)
        log.info(
            "epoch %d/%d  train loss %.4f  val loss %.4f  val IoU %.4f  val Dice %.4f",
            epoch + 1, cfg.epochs, metrics["train/loss"], val["loss"], val["iou"], val["dice"],
        )  # fmt: skip
        if val["iou"] > best_iou:
            best_iou, best_epoch = val["iou"], epoch
            best_state = (
                {k: v.detach().clone() for k, v in net.state_dict().items()} if main else None
            )
        if main:
            _save_checkpoint(
                checkpoint_path,
                {
                    "fingerprint": fp,
                    "epoch": epoch,
                    "model": net.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scaler": scaler.state_dict(),
                    "best_val_iou": best_iou,
                    "best_epoch": best_epoch,
                    "best_state": best_state,
                    "history": history,
                },
            )
        if on_epoch is not None:
            on_epoch(epoch, metrics)

    if best_epoch < 0:  # pragma: no cover - epochs >= 1 always sets it
        raise TrainingError("no epoch completed")
    if main:
        if best_state is None:  # pragma: no cover - rank 0 keeps it whenever best_epoch >= 0
            raise TrainingError("no best state kept")
        net.load_state_dict(best_state)
        save_model(
            model_path,
            net,
            model_cfg,
            best_epoch=best_epoch + 1,
            best_val_iou=best_iou,
            epochs=cfg.epochs,
        )
        checkpoint_path.unlink(missing_ok=True)
    dist.barrier()  # the model exists before any rank returns
    return TrainResult(best_epoch + 1, best_iou, history, resumed_from, time.perf_counter() - t0)


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


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
