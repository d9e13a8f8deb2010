"""Stage `predict`: test-set probabilities, masks and segmentation metrics for dataset <D>.

Writes <out>/probs.npy float32 (N,S,S), <out>/masks.npy uint8 (N,S,S), <out>/per_image.parquet
(id, index, iou, dice, pred_area, true_area) and the metrics JSON (mIoU, mDice, n).
"""

from __future__ import annotations

import logging
from pathlib import Path

import click
import numpy as np
import pandas as pd

from seginterp.cli import input_dir
from seginterp.data import load_split
from seginterp.io import write_json, write_npy, write_parquet
from seginterp.metrics import iou_dice_np
from seginterp.model import load_model, resolve_device
from seginterp.params import from_mapping, load_params, stage_section
from seginterp.training import PredictConfig, predict_probs


@click.command()
@click.option("--dataset", required=True, help="Dataset section of params.yaml.")
@input_dir("--prepared")
@input_dir("--model", "model_dir")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--metrics", "metrics_path", type=click.Path(path_type=Path), required=True)
@click.option("--params", "params_path", default="params.yaml", show_default=True)
def main(dataset: str, prepared: Path, model_dir: Path, out: Path, metrics_path: Path,
         params_path: str) -> None:  # fmt: skip
    """Predict the test split of DATASET and score it."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = from_mapping(PredictConfig, stage_section(load_params(params_path), dataset, "predict"))
    device = resolve_device(cfg.device)
    model, _, _ = load_model(model_dir / "model.pt", map_location=device)
    images, true, ids = load_split(prepared, "test")
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
    out.mkdir(parents=True, exist_ok=True)
    write_npy(out / "probs.npy", probs)
    write_npy(out / "masks.npy", masks)
    write_parquet(out / "per_image.parquet", table)
    n_empty = int(((table.pred_area == 0) & (table.true_area == 0)).sum())
    write_json(
        metrics_path,
        {
            "mIoU": float(iou.mean()) if len(iou) else None,
            "mDice": float(dice.mean()) if len(dice) else None,
            "n": len(ids),
            "threshold": cfg.threshold,
            "n_both_empty": n_empty,
        },
    )
    click.echo(f"{dataset}: test mIoU {iou.mean():.4f}  mDice {dice.mean():.4f}  (n={len(ids)})")


if __name__ == "__main__":
    main()
