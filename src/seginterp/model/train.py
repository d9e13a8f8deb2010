"""Training loop: the paper's loss, Adam, an optional lr schedule, best-validation-IoU model,
exact resume.

Data are the prepared uint8 arrays (no image decoding per epoch). Everything random is seeded
from ``TrainConfig.seed`` and the epoch number, so a run interrupted after epoch k and resumed
from its checkpoint ends with the same weights as an uninterrupted run (on CPU). The checkpoint
of the last epoch is kept after a successful run: asking for more epochs of a run whose schedule
does not depend on the epoch count (``none``, ``plateau``) continues from it, and gives the same
weights as a run started with that many epochs.

The config is in ``seginterp.model.train_config``, one epoch's work in ``seginterp.model.epoch``;
this module sets a run up, resumes it, keeps its best epoch and saves the model.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seginterp.core import distributed as dist
from seginterp.model.checkpoint import Progress, fingerprint, read_checkpoint, write_checkpoint
from seginterp.model.epoch import (
    Arrays,
    Run,
    TrainingError,
    prepare_data,
    stop_workers,
    train_epoch,
    validate,
)
from seginterp.model.net import ModelConfig, build_model, resolve_device, save_model
from seginterp.model.train_config import TrainConfig, build_scheduler

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]
"""Called after each epoch: the 0-based epoch and its metrics (``train/…``, ``val/…``, ``lr``);
epoch -1 is the imported model's validation when ``epochs`` is 0."""
Init = tuple[dict[str, torch.Tensor], str]
"""Imported weights training starts from, and their SHA-256
(:func:`~seginterp.model.external.import_pretrained`)."""


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


def _setup(model_cfg: ModelConfig, cfg: TrainConfig, tr_x: np.ndarray, init: Init | None) -> Run:
    """Device, rank, seeded model (``init``'s weights when given), optimizer and grad scaler of
    a new run."""
    device = dist.local_device(resolve_device(cfg.device))
    rank, world, main = dist.rank(), dist.world_size(), dist.is_main()
    use_amp = cfg.amp and device.type == "cuda"
    seed_everything(cfg.seed)
    net = build_model(model_cfg)
    if init is not None:
        net.load_state_dict(init[0])
    net = net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    scheduler = build_scheduler(cfg, opt)
    fp = fingerprint(model_cfg, cfg, tr_x, init[1] if init is not None else None)
    return Run(cfg, device, rank, world, main, use_amp, net, opt, scaler, scheduler, fp)


def _resume(run: Run, checkpoint_path: Path, on_epoch: EpochCallback | None) -> Progress:
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


def _end_epoch(run: Run, state: Progress, epoch: int, checkpoint_path: Path) -> None:
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
    run: Run, state: Progress, model_cfg: ModelConfig, model_path: Path, checkpoint_path: Path
) -> None:
    """Save the best weights as the model (rank 0); all ranks wait. The checkpoint stays: a run
    with more epochs continues from it."""
    if not state.history:  # pragma: no cover - every run validates at least once
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


def _keep_imported(
    run: Run,
    val_data: Arrays,
    model_cfg: ModelConfig,
    model_path: Path,
    checkpoint_path: Path,
    on_epoch: EpochCallback | None,
    t0: float,
) -> TrainResult:
    """``epochs: 0``: the imported weights are the model, validated once (epoch 0), no step."""
    metrics = validate(run, val_data)
    state = Progress(history=[metrics], best_iou=metrics["val/iou"], best_epoch=-1)
    state.best_state = run.net.state_dict() if run.main else None
    if on_epoch is not None:
        on_epoch(-1, metrics)
    _save_best(run, state, model_cfg, model_path, checkpoint_path)
    return TrainResult(0, metrics["val/iou"], [metrics], None, time.perf_counter() - t0)


def train(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    train_data: Arrays,
    val_data: Arrays,
    model_path: Path,
    checkpoint_path: Path,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
    init: Init | None = None,
) -> TrainResult:
    """Train a U-Net; keep the best-validation-IoU model at ``model_path``.

    Training starts from ``init`` (imported weights and their SHA-256) when given; with
    ``cfg.epochs`` 0 no step is taken: those weights are validated once and saved as the model.

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
    if cfg.epochs == 0 and init is None:
        raise TrainingError("train.epochs 0 keeps an imported model: set model.pretrained")
    run = _setup(model_cfg, cfg, tr_x, init)
    if cfg.epochs == 0:
        return _keep_imported(run, val_data, model_cfg, model_path, checkpoint_path, on_epoch, t0)
    state = _resume(run, checkpoint_path, on_epoch)
    prepare_data(run, tr_x, tr_y)
    try:
        for epoch in range(state.start, cfg.epochs):
            lr = run.opt.param_groups[0]["lr"]
            metrics = train_epoch(run, epoch, progress)
            metrics.update(validate(run, val_data))
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
        stop_workers(run.loader)
        run.loader = None
    _save_best(run, state, model_cfg, model_path, checkpoint_path)
    seconds = time.perf_counter() - t0
    return TrainResult(
        state.best_epoch + 1, state.best_iou, state.history, state.resumed_from, seconds
    )
