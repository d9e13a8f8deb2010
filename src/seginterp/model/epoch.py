"""One epoch of a training run: the run's model, optimizer and data pipeline (DDP wrapper,
sampler, a DataLoader whose workers persist across epochs), the optimizer steps with the
paper's loss, the per-batch training metrics and the validation on rank 0.

Each epoch's data order and augmentation depend only on (seed, epoch, rank), so a resumed run
draws exactly what the uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from seginterp.core import distributed as dist
from seginterp.model.augment import build_augment
from seginterp.model.batches import EpochSampler, SegmentationArrays, evaluate
from seginterp.model.losses import segmentation_loss
from seginterp.model.metrics import iou_dice
from seginterp.model.train_config import TrainConfig

Arrays = tuple[np.ndarray, np.ndarray]  # images uint8 (N,H,W,3), masks {0,1} uint8 (N,H,W)


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, empty split, ...)."""


@dataclass
class Run:
    """What every epoch of one run uses: config, placement, model, optimizer, training data."""

    cfg: TrainConfig
    device: torch.device
    rank: int
    world: int
    main: bool
    use_amp: bool
    net: nn.Module  # the bare module: state dicts, validation and the saved model use it
    opt: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    scheduler: Any  # None for a constant rate
    fp: str  # fingerprint of configs and data, stored in the checkpoint
    model: nn.Module | None = None  # what trains: ``net`` or its DDP wrapper
    sampler: EpochSampler | None = None
    loader: DataLoader | None = None  # one for the run: its workers persist across epochs


def prepare_data(run: Run, tr_x: np.ndarray, tr_y: np.ndarray) -> None:
    """Wrap the model in DDP on several ranks; set up the run's sampler and DataLoader."""
    run.model = run.net
    if run.world > 1:
        cuda = run.device.type == "cuda"
        run.model = DistributedDataParallel(
            run.net, device_ids=[run.device.index] if cuda else None
        )
    cfg = run.cfg
    dataset = SegmentationArrays(tr_x, tr_y, build_augment(cfg.augment, cfg.seed))
    run.sampler = EpochSampler(len(dataset), cfg.seed, run.world, run.rank)
    n_local = len(run.sampler)
    workers = cfg.workers
    run.loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        sampler=run.sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
        drop_last=n_local > cfg.batch_size and n_local % cfg.batch_size == 1,  # BN needs 2
        pin_memory=run.device.type == "cuda",
        generator=torch.Generator().manual_seed(cfg.seed),  # workers' seeds; unused draws
    )


def _epoch_loader(run: Run, epoch: int) -> DataLoader:
    """The run's DataLoader, set to the epoch's order and augmentation seed, which depend only
    on (seed, epoch, rank)."""
    # per-epoch seeds make a resumed run draw exactly what the uninterrupted one would;
    # (seed * world + rank) gives every rank its own stream and is the seed itself at world 1
    torch.manual_seed((run.cfg.seed * 100_003 + epoch) * run.world + run.rank)
    run.sampler.set_epoch(epoch)
    return run.loader


def stop_workers(loader: DataLoader | None) -> None:
    """End the persistent worker processes of ``loader`` now, not whenever it is collected (an
    exception's traceback may keep it alive)."""
    it = getattr(loader, "_iterator", None)
    if it is not None and hasattr(it, "_shutdown_workers"):
        it._shutdown_workers()  # what the iterator's __del__ calls


def _step(run: Run, x: Tensor, y: Tensor, epoch: int, b: int) -> tuple[Tensor, Tensor]:
    """One optimizer step on batch ``b``: x (B,3,H,W), y (B,1,H,W); returns (loss, logits)."""
    with torch.autocast(device_type=run.device.type, enabled=run.use_amp):
        logits = run.model(x)
    loss, _ = segmentation_loss(logits, y, run.cfg.loss_weights)
    # every rank must stop together, else the others wait forever in the all-reduce
    (loss_any,) = dist.all_sum([loss.item()]) if run.world > 1 else (loss.item(),)
    if not np.isfinite(loss_any):
        raise TrainingError(
            f"non-finite loss ({loss.item()}) at epoch {epoch + 1}, batch {b + 1}; "
            "lower train.lr or check the input data"
        )
    run.opt.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.opt)
    run.scaler.update()
    return loss, logits


def train_epoch(run: Run, epoch: int, progress: bool) -> dict[str, float]:
    """One pass over the training data; ``train/`` loss, IoU and Dice over every rank's share."""
    run.model.train()
    loader = _epoch_loader(run, epoch)
    sums = {"loss": 0.0, "iou": 0.0, "dice": 0.0}
    n_seen = 0
    desc = f"epoch {epoch + 1}/{run.cfg.epochs}"
    bar = tqdm(loader, desc=desc, disable=None if progress and run.main else True, leave=False)
    for b, (x, y) in enumerate(bar):
        x, y = x.to(run.device, non_blocking=True), y.to(run.device, non_blocking=True)
        loss, logits = _step(run, x, y, epoch, b)
        with torch.no_grad():
            iou, dice = iou_dice(logits.detach().float() > 0, y > 0.5)
        n = len(x)
        sums["loss"] += loss.item() * n
        sums["iou"] += float(iou.sum())
        sums["dice"] += float(dice.sum())
        n_seen += n
        bar.set_postfix(loss=f"{loss.item():.3f}")
    if run.world > 1:  # sums over every rank's share (DistributedSampler pads to equal shares)
        *totals, n_seen = dist.all_sum([*sums.values(), n_seen])
        sums = dict(zip(sums, totals, strict=True))
    return {f"train/{k}": v / n_seen for k, v in sums.items()}


def validate(run: Run, val_data: Arrays) -> dict[str, float]:
    """``val/`` loss, IoU and Dice, computed on rank 0 and the same on every rank."""
    # rank 0 validates: BatchNorm statistics of the other ranks differ after their last step
    cfg = run.cfg
    val = (
        evaluate(run.net, *val_data, cfg.batch_size * 2, run.device, cfg.loss_weights)
        if run.main
        else {}
    )
    val = dist.broadcast(val)
    return {f"val/{k}": v for k, v in val.items()}
