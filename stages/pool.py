"""Stage `pool`: the verdicts of dataset <D> over its replicate models.

Reads <evaluations>/<seed>/results.parquet of every training seed in params.yaml `replicates`
(each replicate's evaluate stage) and writes the pooled results table <out> (two-level
intervals over models and images, intersection-union tests), <metrics-dir>/{fragility,regions,
sanity,methods,agreement,claims,summary}.json, claims.md (a verdict stands only when every
replicate's agrees) and the plot tables under <plots-dir> (see
:mod:`seginterp.evaluate.replicates`).
"""

from __future__ import annotations

from pathlib import Path

import click

from seginterp.core.cli import input_dir

OUT = click.Path(path_type=Path)


@click.command()
@click.option("--dataset", required=True, help="Dataset section of params.yaml.")
@input_dir("--evaluations", help="The replicates' evaluate outputs, one directory per seed.")
@click.option("--out", type=OUT, required=True, help="The pooled results table (parquet).")
@click.option("--metrics-dir", type=OUT, required=True, help="Directory for the metrics JSON.")
@click.option("--plots-dir", type=OUT, required=True, help="Directory for the plot tables.")
@click.option("--paper", default=None, help="Paper dataset whose figures the claims quote "
              "(kvasir-seg, ham10000; default: DATASET; others: none).")  # fmt: skip
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              help="Parameters file.")  # fmt: skip
def main(dataset: str, evaluations: Path, out: Path, metrics_dir: Path, plots_dir: Path,
         paper: str | None, params_path: str) -> None:  # fmt: skip
    """Pool the replicate models of DATASET into one verdict per claim."""
    from seginterp.core.determinism import make_deterministic
    from seginterp.core.params import load_params, replicate_seeds

    params = load_params(params_path)
    make_deterministic(params)  # first: NumPy's code paths are pinned before it starts
    from seginterp.core.io import atomic_path, write_json, write_parquet
    from seginterp.evaluate.config import EvaluateConfig
    from seginterp.evaluate.plots_dir import write_pooled_plots_dir
    from seginterp.evaluate.replicates import pool_replicates, replicate_tables
    from seginterp.evaluate.results.run import layer_order
    from seginterp.explain.config import AttributeConfig

    cfg = EvaluateConfig.from_params(params, dataset)
    acfg = AttributeConfig.from_params(params, dataset)
    try:
        tables = replicate_tables(evaluations, replicate_seeds(params))
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    pooled = pool_replicates(dataset, tables, cfg, acfg, paper)
    write_parquet(out, pooled.table)
    for name, document in pooled.documents.items():
        write_json(metrics_dir / f"{name}.json", document)
    with atomic_path(metrics_dir / "claims.md") as tmp:
        tmp.write_text(pooled.claims_md)
    sigma = cfg.infidelity_sigma[0]
    write_pooled_plots_dir(plots_dir, pooled.results, layer_order(pooled.results), sigma)
    counts = pooled.documents["claims"]["counts"]
    click.echo(f"{dataset}: {len(tables)} replicates pooled; paper claims {counts}")


if __name__ == "__main__":
    main()
