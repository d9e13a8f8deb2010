"""Stage `attribute`: every configured map of every test image of dataset <D>.

Writes <out>/<id>.npz per test image (the first ``max_images``) and the table (Parquet), one row
per image × method × layer; the npz keys and the columns are described in
``seginterp/explain/store.py``; the seconds (total, per map) go to logs/<D>/attribute-<seed>.json.
Images without a border keep their rows with their status
(``empty_prediction`` / ``full_prediction``), no map and null statistics. DeepLIFT and Integrated
Gradients rows also carry ``delta_f`` = f(x) − f(x₀), ``completeness`` (what the map's sum
equals: exact / approximate / partial) and ``completeness_residual`` = sum − delta_f.
A method the model cannot run (DeepLIFT where not exact) has no rows; summary.json says why.
Under torchrun, image i goes to rank i % world; every rank writes its npz files into rank 0's
temporary output directory and its table rows to ``_parts/``; after a barrier rank 0 merges the
rows in image order (the same table as one process) and removes ``_parts/``.
"""

from __future__ import annotations

from pathlib import Path

import click

from seginterp.core.cli import input_dir

OUT = click.Path(path_type=Path)


@click.command()
@click.option("--dataset", required=True, help="Dataset section of params.yaml.")
@input_dir("--prepared", help="Prepared dataset (test_images.npy, meta.json).")
@input_dir("--model", "model_dir", help="Trained model directory (model.pt).")
@input_dir("--predictions", help="Predictions directory (per_image.parquet).")
@input_dir("--borders", help="Borders directory (borders.npy, borders.parquet).")
@click.option("--out", type=OUT, required=True, help="Output directory: one npz per image.")
@click.option("--table", "table_path", type=OUT, required=True, help="Output Parquet table.")
@click.option("--seed", type=int, help="The replicate's training seed (names the run log).")
@click.option("--params", "params_path", default="params.yaml", help="Parameters file.")
def main(dataset: str, prepared: Path, model_dir: Path, predictions: Path, borders: Path,
         out: Path, table_path: Path, seed: int | None, params_path: str) -> None:  # fmt: skip
    """Explain the predicted segmentation of every test image of DATASET through its border."""
    import time

    from seginterp.core.determinism import make_deterministic
    from seginterp.core.params import load_params

    params = load_params(params_path)
    make_deterministic(params)  # first: before NumPy, SciPy and torch start
    from seginterp.core import distributed as dist
    from seginterp.core.io import write_parquet
    from seginterp.core.runlog import write_runlog
    from seginterp.explain.config import AttributeConfig
    from seginterp.explain.run import StaleBordersError, attribute_dataset
    from seginterp.model.net import resolve_device

    cfg = AttributeConfig.from_params(params, dataset)
    device = resolve_device(cfg.device)
    t0 = time.perf_counter()
    with dist.process_group(device):
        try:
            done = attribute_dataset(cfg, prepared=prepared, model_dir=model_dir,
                                     predictions=predictions, borders=borders, out=out,
                                     device=dist.local_device(device),
                                     desc=f"attribute {dataset}")  # fmt: skip
        except StaleBordersError as e:
            raise click.ClickException(str(e)) from None
        if done is None:  # not rank 0
            return
        write_parquet(table_path, done.table)
    seconds = time.perf_counter() - t0
    write_runlog(dataset, "attribute", {"seconds": seconds, "refused": done.refused,
                 "seconds_per_image": done.seconds_per_image}, seed=seed)  # fmt: skip
    for method, reason in done.refused.items():
        click.echo(f"{dataset}: {method} skipped: {reason}", err=True)
    click.echo(
        f"{dataset}: {done.n_images} images ({done.n_ok} with a border), {len(done.table)} rows, "
        f"{seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
