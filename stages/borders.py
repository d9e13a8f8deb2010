"""Stage `borders`: the border pixels of every predicted test mask of dataset <D>.

Writes <out>/borders.npy uint8 (N,S,S) {0,1}, <out>/borders.parquet (id, index, n_border, status)
and the metrics JSON (mean/min/max |B| over images with a border, n_images, n_without_border,
by_status). Images without a border (empty or full prediction) keep their row with the reason.
The border definition is in ``seginterp/explain/borders.py``.
"""

from __future__ import annotations

from pathlib import Path

import click

from seginterp.core.cli import input_dir


@click.command()
@click.option("--dataset", required=True, help="Dataset name (for messages).")
@input_dir("--predictions", help="Predictions directory (masks.npy, per_image.parquet).")
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Output directory of the borders."
)
@click.option(
    "--metrics",
    "metrics_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Output JSON of border counts.",
)
def main(dataset: str, predictions: Path, out: Path, metrics_path: Path) -> None:
    """Border pixels of the predicted masks of DATASET."""
    from seginterp.core.io import write_json
    from seginterp.explain.borders import find_borders, write_borders
    from seginterp.model.predictions import read_masks, read_table

    masks = read_masks(predictions)
    table = read_table(predictions, columns=["id", "index"])
    try:
        found = find_borders(masks, table)
    except ValueError as e:
        raise click.ClickException(f"{predictions}: per_image.parquet vs masks.npy: {e}") from None
    write_borders(out, found)
    write_json(metrics_path, found.summary)
    click.echo(
        f"{dataset}: {len(found.table)} images, |B| mean {found.summary['mean']}, "
        f"without border {found.summary['n_without_border']} {found.summary['by_status']}"
    )


if __name__ == "__main__":
    main()
