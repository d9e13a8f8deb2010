"""Stage `download`: put dataset D's raw files into data/D/raw, as the source's archive unpacks.

Reads D.download (its `source` picks the data source: see `seginterp.datasets`). Partial and
finished downloads are kept in <out>/../downloads (gitignored, not a DVC output), so a cut
download resumes on the next `dvc repro`. <out> is replaced atomically, only on success.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from seginterp.datasets import DatasetError, parse_download
from seginterp.download import DownloadError
from seginterp.io import atomic_dir
from seginterp.params import ParamsError, load_params, stage_section
from seginterp.registry import UnknownNameError


@click.command()
@click.option("--dataset", required=True, help="Dataset section of params.yaml.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Raw data folder.")
@click.option(
    "--downloads",
    type=click.Path(path_type=Path),
    default=None,
    help="Where archives are downloaded (kept, resumable) [default: <out>/../downloads].",
)
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@click.option("--progress/--no-progress", default=True, help="Show download progress bars.")
def main(dataset: str, out: Path, downloads: Path | None, params_path: str, progress: bool) -> None:
    """Download (or generate, or copy) the raw files of DATASET into OUT."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    where = f"{dataset}.download"
    try:
        source, cfg = parse_download(
            stage_section(load_params(params_path), dataset, "download"), where
        )
        with atomic_dir(out) as tmp:
            tmp.chmod(0o755)  # mkdtemp makes 0700
            source.download(
                cfg,
                tmp,
                downloads_dir=downloads or out.parent / "downloads",
                where=where,
                progress=progress,
            )
    except (ParamsError, DatasetError, DownloadError, UnknownNameError) as e:
        raise click.ClickException(str(e)) from e
    logging.getLogger("stages.download").info("%s: raw data in %s", dataset, out)


if __name__ == "__main__":
    main()
