"""Stage `preprocess`: decode, decide masks, resize and split data/D/raw into data/D/prepared.

Reads D.preprocess (image_size, split, seed, mask_foreground) and D.download.source (which
source's `scan` pairs images with masks). Writes {train,val,test}_{images,masks}.npy,
manifest.parquet, rejects.csv and meta.json (layout: `seginterp.data.prepared`); <out> is
replaced atomically. Masks no rule can decide (`seginterp.data.masks`) are rejected with their
values; empty and full masks are kept, counted in meta.json and reported here.
"""

from __future__ import annotations

from pathlib import Path

import click

from seginterp.core.cli import input_dir


@click.command()
@click.option("--dataset", required=True, help="Dataset section of params.yaml.")
@input_dir("--raw", help="Raw data folder (the download stage's output).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Prepared folder.")
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="The params file."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Decoding threads [default: CPUs, max 8].",
)
def main(dataset: str, raw: Path, out: Path, params_path: str, workers: int | None) -> None:
    """Preprocess the raw files of DATASET in RAW into OUT."""
    import logging

    from seginterp.core.io import atomic_dir
    from seginterp.core.params import ParamsError, load_params, stage_section
    from seginterp.core.registry import UnknownNameError
    from seginterp.data.prepare import PreprocessParams, prepare
    from seginterp.data.sources.registry import DatasetError, parse_download

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        params = load_params(params_path)
        source, download_cfg = parse_download(
            stage_section(params, dataset, "download"), f"{dataset}.download"
        )
        cfg = PreprocessParams.from_params(params, dataset)
        with atomic_dir(out) as tmp:
            tmp.chmod(0o755)
            meta = prepare(raw, tmp, source.scan, download_cfg, cfg, workers=workers)
        logging.getLogger("stages.preprocess").info(
            "%s: prepared data in %s: %d file(s) rejected (rejects.csv); %d empty and %d full "
            "masks kept; masks decided by rule: %s",
            dataset,
            out,
            meta["n_rejected"],
            meta["n_empty_masks"],
            meta["n_full_masks"],
            ", ".join(f"{rule} {n}" for rule, n in meta["mask_rules"].items()),
        )
    except (ParamsError, DatasetError, UnknownNameError) as e:
        raise click.ClickException(str(e)) from e


if __name__ == "__main__":
    main()
