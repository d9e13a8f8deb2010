"""Stage `borders`: the border pixels of every predicted test mask of dataset <D> (DESIGN §2).

Writes <out>/borders.npy uint8 (N,S,S) {0,1}, <out>/borders.parquet (id, index, n_border, status)
and the metrics JSON (mean/min/max |B| over images with a border, n_images, n_without_border,
by_status). Images without a border (empty or full prediction) keep their row with the reason.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pandas as pd

from seginterp.borders import border_pixels, border_status, border_summary
from seginterp.cli import input_dir
from seginterp.io import write_json, write_npy, write_parquet


@click.command()
@click.option("--dataset", required=True, help="Dataset name (for messages).")
@input_dir("--predictions")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--metrics", "metrics_path", type=click.Path(path_type=Path), required=True)
def main(dataset: str, predictions: Path, out: Path, metrics_path: Path) -> None:
    """Border pixels of the predicted masks of DATASET."""
    masks = np.load(predictions / "masks.npy", mmap_mode="r")
    table = pd.read_parquet(predictions / "per_image.parquet", columns=["id", "index"])
    if len(table) != len(masks):
        raise click.ClickException(
            f"{predictions}: per_image.parquet has {len(table)} rows but masks.npy {len(masks)}"
        )
    borders = np.zeros(masks.shape, dtype=np.uint8)
    n_border, statuses = [], []
    for i, row in enumerate(table.itertuples(index=False)):
        mask = np.asarray(masks[int(row.index)])
        b = border_pixels(mask)
        borders[i] = b
        n_border.append(int(b.sum()))
        statuses.append(border_status(mask))
    out.mkdir(parents=True, exist_ok=True)
    write_npy(out / "borders.npy", borders)
    result = pd.DataFrame(
        {
            "id": table["id"].to_numpy(),
            "index": table["index"].to_numpy(),
            "n_border": np.asarray(n_border, dtype=np.int64),
            "status": statuses,
        }
    )
    write_parquet(out / "borders.parquet", result)
    summary = border_summary(np.asarray(n_border), statuses)
    write_json(metrics_path, summary)
    click.echo(
        f"{dataset}: {len(result)} images, |B| mean {summary['mean']}, "
        f"without border {summary['n_without_border']} {summary['by_status']}"
    )


if __name__ == "__main__":
    main()
