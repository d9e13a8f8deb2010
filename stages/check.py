"""Stage `check` (always run): dataset <D>'s params validated and its user files fingerprinted.

<out> is the dataset's effective params (params.yaml `defaults` with the dataset's section laid on
it), in which every later stage's params are tracked: a bad value anywhere stops `dvc repro` here,
with one line per problem and no traceback, and changing a default or an override reruns only
the stages whose effective value changed. <watch> fingerprints the user's
files the download reads (a `folder` source, a local archive; `seginterp.data.watch`): `download`
depends on it, so changing those files reruns `download` (DVC cannot watch a path held in a param);
<pretrained> fingerprints `model.pretrained` likewise, for `train`. Then it prints what each stage
will cost on this device and warns when attribute or evaluate would exceed 30 min per replicate,
naming the param to change (`seginterp.estimate`: a calibration of the model on this device,
kept per machine and configuration in ~/.cache/seginterp).
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--dataset", required=True, help="Dataset section of params.yaml.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="The dataset's effective params (YAML), written when valid.",
)
@click.option(
    "--watch",
    "watch_file",
    type=click.Path(path_type=Path),
    required=True,
    help="Fingerprint of the user's files the download reads (JSON).",
)
@click.option("--pretrained", "model_file", type=click.Path(path_type=Path), required=True,
              help="Fingerprint of the imported model.pretrained (JSON).")  # fmt: skip
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="The params file."
)
def main(dataset: str, out: Path, watch_file: Path, model_file: Path, params_path: str) -> None:
    """Check every section of DATASET in params.yaml; one line per problem."""
    from seginterp.check import check_dataset
    from seginterp.core.io import atomic_path
    from seginterp.core.params import ParamsError, load_params, stage_section, write_effective
    from seginterp.data.sources.registry import parse_download
    from seginterp.data.watch import write_fingerprint, write_model_fingerprint
    from seginterp.estimate import costs
    from seginterp.model.net import ModelConfig

    try:
        params = load_params(params_path)
        errors = check_dataset(params, dataset)
    except ParamsError as err:
        errors = [str(err)]
    if errors:
        raise click.ClickException("\n".join(errors))
    source, cfg = parse_download(stage_section(params, dataset, "download"), dataset)
    n = write_fingerprint(source, cfg, watch_file, watch_file.parent / "downloads")
    pretrained = ModelConfig.from_params(params, dataset).pretrained
    write_model_fingerprint(pretrained, model_file, watch_file.parent / "downloads")
    with atomic_path(out) as tmp:
        write_effective(params, dataset, tmp)
    click.echo(f"{dataset}: params checked; {n} user file(s) fingerprinted")
    lines, warnings = costs(params, dataset, cfg)
    click.echo("\n".join(lines))
    for line in warnings:
        click.echo(f"WARNING: {line}", err=True)


if __name__ == "__main__":
    main()
