"""Training loop: the paper's loss, Adam, an optional lr schedule, best-validation-IoU model,
exact resume.

Data are the prepared uint8 arrays (no image decoding per epoch). Everything random is seeded
from ``TrainConfig.seed`` and the epoch number, so a run interrupted after epoch k and resumed
from its checkpoint ends with the same weights as an uninterrupted run (on CPU). The checkpoint
of the last epoch is kept after a successful run: asking for more epochs of a run whose schedule
does not depend on the epoch count (``none``, ``plateau``) continues from it, and gives the same
weights as a run started with that many epochs.
"""

from __future__ import annotations

import logging
import os
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
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from seginterp.core import distributed as dist
from seginterp.core.params import StageConfig
from seginterp.model.augment import AugmentConfig, build_augment
from seginterp.model.batches import EpochSampler, SegmentationArrays, evaluate
from seginterp.model.checkpoint import Progress, fingerprint, read_checkpoint, write_checkpoint
from seginterp.model.losses import LossWeights, segmentation_loss
from seginterp.model.metrics import iou_dice
from seginterp.model.net import ModelConfig, build_model, resolve_device, save_model

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]
"""Called after each epoch: the 0-based epoch and its metrics (``train/…``, ``val/…``, ``lr``)."""
LR_SCHEDULES: tuple[str, ...] = ("none", "plateau", "cosine")
Arrays = tuple[np.ndarray, np.ndarray]  # images uint8 (N,H,W,3), masks {0,1} uint8 (N,H,W)


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, empty split, ...)."""


@dataclass(frozen=True)
class TrainConfig(StageConfig):
    """``<dataset>.train`` in params.yaml."""

    section = "train"

    epochs: int = 10
    batch_size: int = 8
    lr: float = 5e-4
    lr_schedule: str = "none"
    lr_patience: int = 2
    lr_factor: float = 0.5
    loss_weights: LossWeights = field(default_factory=LossWeights)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    num_workers: int | str = "auto"
    checkpoint_every: int = 1
    amp: bool = True
    device: str = "auto"

    def __post_init__(self) -> None:
        bad_workers = isinstance(self.num_workers, str) or self.num_workers < 0
        if bad_workers and self.num_workers != "auto":
            raise ValueError(f"train.num_workers must be >= 0 or auto, got {self.num_workers!r}")
        for name, ok, rule in (
            ("epochs", self.epochs >= 1, ">= 1"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("lr", self.lr > 0, "> 0"),
            ("checkpoint_every", self.checkpoint_every >= 1, ">= 1"),
            ("lr_patience", self.lr_patience >= 0, ">= 0"),
            ("lr_factor", 0 < self.lr_factor < 1, "in (0, 1)"),
        ):
            if not ok:
                raise ValueError(f"train.{name} must be {rule}, got {getattr(self, name)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"train.lr_schedule must be one of {', '.join(LR_SCHEDULES)}, "
                f"got {self.lr_schedule!r}"
            )

    @property
    def epoch_dependent(self) -> bool:
        """Whether the trajectory of every epoch depends on ``epochs`` (the cosine schedule)."""
        return self.lr_schedule == "cosine"

    @property
    def workers(self) -> int:
        """The DataLoader worker count: ``num_workers``, or for ``auto`` :func:`auto_workers`."""
        return auto_workers() if self.num_workers == "auto" else int(self.num_workers)

    def checkpoint_due(self, epoch: int) -> bool:
        """Whether the checkpoint is written after ``epoch`` (0-based): every
        ``checkpoint_every`` epochs and after the last one."""
        return (epoch + 1) % self.checkpoint_every == 0 or epoch + 1 == self.epochs


def auto_workers(cores: int | None = None) -> int:
    """``train.num_workers: auto``: min(4, cores - 1) DataLoader workers, 0 on one core.

    ``cores`` defaults to the CPUs this process may run on (its affinity; ``os.cpu_count()``
    where that is unknown). One core is left to the training process; more than 4 workers do
    not pay for their memory with prepared arrays. The worker count never changes results.
    """
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        cores = cores or os.cpu_count() or 1
    return max(0, min(4, cores - 1))


def build_scheduler(cfg: TrainConfig, opt: torch.optim.Optimizer) -> Any:
    """The lr scheduler of ``cfg.lr_schedule``, stepped once after every epoch (None: constant).

    - ``none``: the paper's constant rate;
    - ``plateau``: multiply the rate by ``lr_factor`` after ``lr_patience`` epochs without a
      better validation IoU;
    - ``cosine``: cosine decay from ``lr`` towards 0 over ``epochs`` epochs.
    """
    if cfg.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="max", factor=cfg.lr_factor, patience=cfg.lr_patience, threshold=0.0
        )
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    return None


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's global and torch's random number generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds libraries that use the global RNG
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    """Best epoch (1-based) and its validation IoU, per-epoch metrics, resume point, duration."""

    best_epoch: int
    best_val_iou: float
    history: list[dict[str, float]]
    resumed_from: int | None
    seconds: float


@dataclass
class _Run:
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


def _setup(model_cfg: ModelConfig, cfg: TrainConfig, tr_x: np.ndarray) -> _Run:
    """Device, rank, seeded model, optimizer and grad scaler of a new run."""
    device = dist.local_device(resolve_device(cfg.device))
    rank, world, main = dist.rank(), dist.world_size(), dist.is_main()
    use_amp = cfg.amp and device.type == "cuda"
    seed_everything(cfg.seed)
    net = build_model(model_cfg).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    scheduler = build_scheduler(cfg, opt)
    fp = fingerprint(model_cfg, cfg, tr_x)
    return _Run(cfg, device, rank, world, main, use_amp, net, opt, scaler, scheduler, fp)


def _resume(run: _Run, checkpoint_path: Path, on_epoch: EpochCallback | None) -> Progress:
    """Load the checkpoint when it belongs to this run; replay its epochs to ``on_epoch``."""
    found = checkpoint_path.exists()
    if run.world > 1 and dist.broadcast(found) != found:
        raise TrainingError(
            f"rank {run.rank} {'sees' if found else 'does not see'} {checkpoint_path} but rank 0 "
            "does not agree: put the resume directory on a filesystem shared by all ranks"
        )
    state = None
    if found:
        state = read_checkpoint(checkpoint_path, run.fp, run.device, run.net, run.opt, run.scaler,
                                run.scheduler, max_epochs=run.cfg.epochs)  # fmt: skip
    if state is None:
        return Progress()
    log.info("resuming from %s after epoch %d of %d", checkpoint_path, state.start, run.cfg.epochs)
    if on_epoch is not None:
        for e, h in enumerate(state.history):
            on_epoch(e, h)
    return state


def _prepare_data(run: _Run, tr_x: np.ndarray, tr_y: np.ndarray) -> None:
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


def _epoch_loader(run: _Run, epoch: int) -> DataLoader:
    """The run's DataLoader, set to the epoch's order and augmentation seed, which depend only
    on (seed, epoch, rank)."""
    # per-epoch seeds make a resumed run draw exactly what the uninterrupted one would;
    # (seed * world + rank) gives every rank its own stream and is the seed itself at world 1
    torch.manual_seed((run.cfg.seed * 100_003 + epoch) * run.world + run.rank)
    run.sampler.set_epoch(epoch)
    return run.loader


def _stop_workers(loader: DataLoader | None) -> None:
    """End the persistent worker processes of ``loader`` now, not whenever it is collected (an
    exception's traceback may keep it alive)."""
    it = getattr(loader, "_iterator", None)
    if it is not None and hasattr(it, "_shutdown_workers"):
        it._shutdown_workers()  # what the iterator's __del__ calls


def _step(run: _Run, x: Tensor, y: Tensor, epoch: int, b: int) -> tuple[Tensor, Tensor]:
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


def _train_epoch(run: _Run, epoch: int, progress: bool) -> dict[str, float]:
    """One pass over the training data; ``train/`` loss, IoU and Dice over every rank's share."""
    run.model.train()
    loader = _epoch_loader(run, epoch)
    sums = {"loss": 0.0, "iou": 0.0, "dice": 0.0}
    n_seen = 0
    desc = f"epoch {epoch + 1}/{run.cfg.epochs}"
    bar = tqdm(loader, desc=desc, disable=not (progress and run.main), leave=False)
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


def _validate(run: _Run, val_data: Arrays) -> dict[str, float]:
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


def _end_epoch(run: _Run, state: Progress, epoch: int, checkpoint_path: Path) -> None:
    """Keep the weights of the best validation IoU (a copy in memory, made only when they
    improve), step the lr schedule, write the checkpoint when it is due (rank 0)."""
    val_iou = state.history[-1]["val/iou"]
    if val_iou > state.best_iou:
        state.best_iou, state.best_epoch = val_iou, epoch
        state.best_state = (
            {k: v.detach().clone() for k, v in run.net.state_dict().items()} if run.main else None
        )
    if isinstance(run.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        run.scheduler.step(val_iou)
    elif run.scheduler is not None:
        run.scheduler.step()
    if run.main and run.cfg.checkpoint_due(epoch):
        write_checkpoint(
            checkpoint_path, run.fp, epoch, run.net, run.opt, run.scaler, run.scheduler, state
        )


def _save_best(
    run: _Run, state: Progress, model_cfg: ModelConfig, model_path: Path, checkpoint_path: Path
) -> None:
    """Save the best weights as the model (rank 0); all ranks wait. The checkpoint stays: a run
    with more epochs continues from it."""
    if state.best_epoch < 0:  # pragma: no cover - epochs >= 1 always sets it
        raise TrainingError("no epoch completed")
    if run.main:
        if state.best_state is None:  # pragma: no cover - rank 0 keeps it when best_epoch >= 0
            raise TrainingError("no best state kept")
        run.net.load_state_dict(state.best_state)
        save_model(
            model_path,
            run.net,
            model_cfg,
            best_epoch=state.best_epoch + 1,
            best_val_iou=state.best_iou,
            epochs=run.cfg.epochs,
        )
    dist.barrier()  # the model exists before any rank returns


def train(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    train_data: Arrays,
    val_data: Arrays,
    model_path: Path,
    checkpoint_path: Path,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a U-Net; keep the best-validation-IoU model at ``model_path``.

    A resumable checkpoint is written to ``checkpoint_path`` every ``cfg.checkpoint_every``
    epochs and after the last one, and kept after a successful run (an interrupted run repeats
    at most ``checkpoint_every - 1`` epochs, to the same bytes). If it exists, matches this
    run's configs and data (``epochs`` aside, unless the schedule depends on it) and has no
    more epochs than asked for, training resumes from it; ``on_epoch`` is then first called
    for the epochs already done (so loggers can rebuild their curves). Returns the history of
    per-epoch metrics.

    Under torchrun (process group initialized, see ``seginterp.core.distributed``) the model is
    wrapped in DDP and each rank trains on its ``DistributedSampler`` share; validation runs on
    rank 0 and its metrics are broadcast, so ``history``, the best epoch and ``on_epoch``'s
    arguments are identical on every rank (``on_epoch`` is called on every rank: log on rank 0
    only). Only rank 0 writes ``model_path`` and the checkpoint; every rank resumes from the
    same checkpoint, which must then sit on a filesystem all ranks see.
    """
    t0 = time.perf_counter()
    (tr_x, tr_y), (va_x, _) = train_data, val_data
    if len(tr_x) == 0 or len(va_x) == 0:
        raise TrainingError(f"empty split: {len(tr_x)} training and {len(va_x)} validation images")
    run = _setup(model_cfg, cfg, tr_x)
    state = _resume(run, checkpoint_path, on_epoch)
    _prepare_data(run, tr_x, tr_y)
    try:
        for epoch in range(state.start, cfg.epochs):
            lr = run.opt.param_groups[0]["lr"]
            metrics = _train_epoch(run, epoch, progress)
            metrics.update(_validate(run, val_data))
            metrics["lr"] = lr
            state.history.append(metrics)
            log.info(
                "epoch %d/%d  train loss %.4f  val loss %.4f  val IoU %.4f  val Dice %.4f",
                epoch + 1, cfg.epochs, metrics["train/loss"], metrics["val/loss"],
                metrics["val/iou"], metrics["val/dice"],
            )  # fmt: skip
            _end_epoch(run, state, epoch, checkpoint_path)
            if on_epoch is not None:
                on_epoch(epoch, metrics)
    finally:
        _stop_workers(run.loader)
        run.loader = None
    _save_best(run, state, model_cfg, model_path, checkpoint_path)
    seconds = time.perf_counter() - t0
    return TrainResult(
        state.best_epoch + 1, state.best_iou, state.history, state.resumed_from, seconds
    )
