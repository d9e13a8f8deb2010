"""The resumable checkpoint a training run writes every ``train.checkpoint_every`` epochs, and
what it must match.

It holds the weights, optimizer, grad-scaler and lr-scheduler states, the best epoch so far with
its weights, and the metric history; its fingerprint ties it to the configs and the training
data. ``epochs`` is left out of the fingerprint when the schedule does not depend on it, so a
finished run's checkpoint lets a longer run continue where it stopped; so are the params that
never change results (``num_workers``, ``checkpoint_every``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from seginterp.core.params import to_dict
from seginterp.model.net import ModelConfig, save_torch

if TYPE_CHECKING:
    from seginterp.model.train_config import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Where a run stands: next epoch, best validation IoU so far (epoch, weights), history."""

    start: int = 0
    best_iou: float = -1.0
    best_epoch: int = -1
    best_state: dict[str, Tensor] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int | None = None


def fingerprint(
    model_cfg: ModelConfig, cfg: TrainConfig, train_images: np.ndarray, init: str | None = None
) -> str:
    """Hash of what a resume checkpoint must agree with: both configs, the training data and the
    SHA-256 ``init`` of the imported weights training starts from (None: random init)."""
    train = to_dict(cfg)
    del train["num_workers"], train["checkpoint_every"]
    if not cfg.epoch_dependent:
        del train["epochs"]
    h = hashlib.sha256()
    built = [model_cfg.build_dict(), train] + ([init] if init is not None else [])
    h.update(json.dumps(built, sort_keys=True).encode())
    h.update(str(train_images.shape).encode())
    step = max(1, len(train_images) // 16)
    h.update(np.ascontiguousarray(train_images[::step]).tobytes())
    return h.hexdigest()


def write_checkpoint(
    path: Path,
    fp: str,
    epoch: int,
    net: nn.Module,
    opt: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    scheduler: Any,
    progress: Progress,
) -> None:
    """Write the checkpoint after ``epoch`` (atomic); ``scheduler`` may be None.

    When ``epoch`` is the best one, its weights are stored once (the best state refers to the
    model's tensors), not twice.
    """
    model = net.state_dict()
    best = progress.best_state
    if best is not None and progress.best_epoch == epoch:
        best = model  # the same values; torch.save writes shared tensors once
    state = {
        "fingerprint": fp,
        "epoch": epoch,
        "model": model,
        "optimizer": opt.state_dict(),
        "scaler": scaler.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "best_val_iou": progress.best_iou,
        "best_epoch": progress.best_epoch,
        "best_state": best,
        "history": progress.history,
    }
    save_torch(path, state)


def read_checkpoint(
    path: Path,
    fp: str,
    device: torch.device,
    net: nn.Module,
    opt: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    scheduler: Any = None,
    max_epochs: int | None = None,
) -> Progress | None:
    """Load a checkpoint of fingerprint ``fp`` into ``net``, ``opt``, ``scaler`` and
    ``scheduler``.

    Returns its progress, or None (and leaves everything untouched) when the checkpoint belongs
    to another config or data set, or has more than ``max_epochs`` epochs (a shorter run cannot
    be recovered from it: its best weights may come from a later epoch).
    """
    ck = torch.load(path, map_location=device, weights_only=True)
    if ck.get("fingerprint") != fp:
        log.warning("ignoring %s: it belongs to another config or data set", path)
        return None
    if max_epochs is not None and ck["epoch"] + 1 > max_epochs:
        log.warning(
            "ignoring %s: it holds %d epochs, more than the %d asked for",
            path, ck["epoch"] + 1, max_epochs,
        )  # fmt: skip
        return None
    net.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    scaler.load_state_dict(ck["scaler"])
    if scheduler is not None:
        scheduler.load_state_dict(ck["scheduler"])
    start = ck["epoch"] + 1
    history = [dict(h) for h in ck["history"]]
    return Progress(
        start, ck["best_val_iou"], ck["best_epoch"], ck["best_state"], history, resumed_from=start
    )
