"""Stage `predict`: test-set probabilities, masks and segmentation metrics for dataset <D>.

Writes <out>/probs.npy float32 (N,S,S), <out>/masks.npy uint8 (N,S,S), <out>/per_image.parquet
(id, index, iou, dice, pred_area, true_area) and the metrics JSON (mIoU, mDice, n, threshold,
n_both_empty).
"""

from __future__ import annotations

from pathlib import Path

import click

from seginterp.core.cli import input_dir


@click.command()
@click.option("--dataset", required=True, help="Dataset section of params.yaml.")
@input_dir("--prepared", help="Prepared data folder (the preprocess stage's output).")
@input_dir("--model", "model_dir", help="Model directory holding model.pt.")
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Predictions directory."
)
@click.option(
    "--metrics",
    "metrics_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Segmentation metrics JSON.",
)
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="The params file."
)
def main(dataset: str, prepared: Path, model_dir: Path, out: Path, metrics_path: Path,
         params_path: str) -> None:  # fmt: skip
    """Predict the test split of DATASET and score it."""
    import logging

    from seginterp.core.determinism import make_deterministic
    from seginterp.core.params import load_params

    params = load_params(params_path)
    make_deterministic(params)  # first: before NumPy, SciPy and torch start
    from seginterp.core.io import write_json
    from seginterp.model.predict import PredictConfig, predict_test
    from seginterp.model.predictions import write_predictions

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = PredictConfig.from_params(params, dataset)
    pred = predict_test(prepared, model_dir / "model.pt", cfg)
    write_predictions(out, pred.probs, pred.masks, pred.table)
    write_json(metrics_path, pred.metrics)
    iou, dice = pred.table["iou"].to_numpy(), pred.table["dice"].to_numpy()
    click.echo(f"{dataset}: test mIoU {iou.mean():.4f}  mDice {dice.mean():.4f}  (n={len(iou)})")


if __name__ == "__main__":
    main()
