"""Stage `evaluate`: fragility, region analysis, sanity check and figures for dataset <D>.

Writes <out>/{fragility,sensitivity,regions,sanity,regions_null}.parquet (per image),
<out>/results.parquet (every estimate and test), <metrics-dir>/{fragility,regions,sanity,
claims,summary,methods}.json, claims.md (the paper's claims with a verdict each) and, under
<plots-dir>, figures/*.png and the per-layer vega tables (see :mod:`seginterp.evaluate.run`).
Under torchrun the images are sharded across ranks and rank 0 writes everything (the outputs of
one process). The seconds of each part go to logs/<D>/evaluate-<seed>.json.
"""

from __future__ import annotations

from pathlib import Path

import click

from seginterp.core.cli import input_dir

OUT = click.Path(path_type=Path)


@click.command()
@click.option("--dataset", required=True, help="Dataset section of params.yaml.")
@input_dir("--prepared", help="Prepared data (test arrays, meta.json).")
@input_dir("--model", "model_dir", help="Trained model directory (model.pt).")
@input_dir("--predictions", help="Predicted test masks (masks.npy).")
@input_dir("--borders", help="Border stage outputs (borders.npy, borders.parquet).")
@input_dir("--attributions", help="Per-image maps of the attribute stage (<id>.npz).")
@click.option("--table", "table_path", type=click.Path(exists=True, path_type=Path),
              required=True, help="The attribute stage's attributions.parquet.")  # fmt: skip
@click.option("--out", type=OUT, required=True, help="Directory for the per-image tables.")
@click.option("--metrics-dir", type=OUT, required=True, help="Directory for the metrics JSON.")
@click.option("--plots-dir", type=OUT, required=True, help="Directory for figures and plots.")
@click.option("--paper", default=None, help="Paper dataset whose figures the claims quote "
              "(kvasir-seg, ham10000; default: DATASET; others: none).")  # fmt: skip
@click.option("--seed", type=int, help="The replicate's training seed (names the run log).")
@click.option("--params", "params_path", default="params.yaml", help="Parameters file.")
def main(dataset: str, prepared: Path, model_dir: Path, predictions: Path, borders: Path,
         attributions: Path, table_path: Path, out: Path, metrics_dir: Path, plots_dir: Path,
         paper: str | None, seed: int | None, params_path: str) -> None:  # fmt: skip
    """Score the border explanations of DATASET: fragility, regions, sanity, claims, figures."""
    import logging

    from seginterp.core.determinism import make_deterministic
    from seginterp.core.params import load_params

    params = load_params(params_path)
    make_deterministic(params)  # first: before NumPy, SciPy and torch start
    from seginterp.core import distributed as dist
    from seginterp.core.io import atomic_dir, atomic_path, write_json, write_parquet
    from seginterp.core.runlog import write_runlog
    from seginterp.evaluate.config import EvaluateConfig
    from seginterp.evaluate.run import EvaluateInputs, evaluate_dataset
    from seginterp.explain.config import AttributeConfig
    from seginterp.model.net import resolve_device

    cfg = EvaluateConfig.from_params(params, dataset)
    acfg = AttributeConfig.from_params(params, dataset)
    inputs = EvaluateInputs(prepared, model_dir, predictions, borders, attributions, table_path)
    with dist.process_group(resolve_device(cfg.device)):
        level = logging.INFO if dist.is_main() else logging.WARNING
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
        result = evaluate_dataset(
            dataset, inputs, cfg, acfg, out=out, plots_dir=plots_dir, paper=paper
        )
    if result is None:
        return  # another rank of torchrun: rank 0 writes
    with atomic_dir(out) as tmp:
        for name, table in result.tables.items():
            write_parquet(tmp / f"{name}.parquet", table)
    for name, document in result.documents.items():
        write_json(metrics_dir / f"{name}.json", document)
    with atomic_path(metrics_dir / "claims.md") as tmp:
        tmp.write_text(result.claims_md)
    write_runlog(dataset, "evaluate", {"seconds": result.seconds}, seed=seed)
    click.echo(result.summary(dataset))


if __name__ == "__main__":
    main()
