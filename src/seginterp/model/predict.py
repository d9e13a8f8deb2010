"""Test-set predictions: foreground probabilities, thresholded masks, per-image IoU and Dice."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import nn

from seginterp.core.params import StageConfig
from seginterp.data.prepared import load_split
from seginterp.model.metrics import iou_dice_np
from seginterp.model.net import load_model, resolve_device, to_input


@dataclass(frozen=True)
class PredictConfig(StageConfig):
    """``<dataset>.predict`` in params.yaml."""

    section = "predict"

    threshold: float = 0.5
    batch_size: int = 16
    device: str = "auto"

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"predict.threshold must be in (0, 1), got {self.threshold}")
        if self.batch_size < 1:
            raise ValueError(f"predict.batch_size must be >= 1, got {self.batch_size}")


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


class Prediction(NamedTuple):
    """What the predict stage writes."""

    probs: np.ndarray  # float32 (N, S, S): sigmoid(z)
    masks: np.ndarray  # uint8 (N, S, S): probs > threshold
    table: pd.DataFrame  # id, index, iou, dice, pred_area, true_area: one row per image
    metrics: dict[str, Any]  # mIoU, mDice, n, threshold, n_both_empty


def predict_test(prepared_dir: Path, model_path: Path, cfg: PredictConfig) -> Prediction:
    """Predict the test split of ``prepared_dir`` with the model at ``model_path``; score it."""
    device = resolve_device(cfg.device)
    model, _, _ = load_model(model_path, map_location=device)
    images, true, ids = load_split(prepared_dir, "test")
    probs = predict_probs(model, images, cfg.batch_size, device)
    masks = (probs > cfg.threshold).astype(np.uint8)
    iou, dice = iou_dice_np(masks, np.asarray(true))
    table = pd.DataFrame(
        {
            "id": ids,
            "index": np.arange(len(ids)),
            "iou": iou,
            "dice": dice,
            "pred_area": masks.reshape(len(masks), -1).sum(1),
            "true_area": np.asarray(true).reshape(len(true), -1).sum(1),
        }
    )
    n_empty = int(((table.pred_area == 0) & (table.true_area == 0)).sum())
    metrics = {
        "mIoU": float(iou.mean()) if len(iou) else None,
        "mDice": float(dice.mean()) if len(dice) else None,
        "n": len(ids),
        "threshold": cfg.threshold,
        "n_both_empty": n_empty,
    }
    return Prediction(probs, masks, table, metrics)
