"""``<dataset>.train`` in params.yaml: the training config, its lr schedules and the DataLoader
worker count."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch

from seginterp.core.params import StageConfig
from seginterp.model.augment import AugmentConfig
from seginterp.model.losses import LossWeights

LR_SCHEDULES: tuple[str, ...] = ("none", "plateau", "cosine")


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
            ("epochs", self.epochs >= 0, ">= 0 (0: an imported model.pretrained, not trained)"),
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
