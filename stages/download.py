"""Stage `download`: put dataset D's raw files into data/D/raw, as the source's archive unpacks.

Reads D.download (its `source` picks the data source: see `seginterp.data.sources.registry`).
Downloads are kept in <out>/../downloads (gitignored, not a DVC output) under names keyed by URL
+ sha256: a cut download resumes, a changed URL never reuses a stale file, a refused archive is
moved aside. <out> is replaced atomically, only on success. The user's own files that a source
reads (a `folder`, a local archive) are fingerprinted by the always-changed `check` stage
(`seginterp.data.watch`), on whose output `download` depends: changing them reruns `download`.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--dataset", required=True, help="Dataset section of params.yaml.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Raw data folder.")
@click.option(
    "--downloads",
    type=click.Path(path_type=Path),
    default=None,
    help="Where archives are downloaded (kept, resumable) [default: <out>/../downloads].",
)
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="The params file."
)
@click.option("--progress/--no-progress", default=True, help="Show download progress bars.")
def main(
    dataset: str,
    out: Path,
    downloads: Path | None,
    params_path: str,
    progress: bool,
) -> None:
    """Download (or generate, or copy) the raw files of DATASET into OUT."""
    import logging

    from seginterp.core.io import atomic_dir
    from seginterp.core.params import ParamsError, load_params, stage_section
    from seginterp.core.registry import UnknownNameError
    from seginterp.data.fetch import DownloadError
    from seginterp.data.sources.registry import DatasetError, parse_download

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("stages.download")
    where = f"{dataset}.download"
    try:
        section = stage_section(load_params(params_path), dataset, "download")
        source, cfg = parse_download(section, where)
        dl = downloads or out.parent / "downloads"
        with atomic_dir(out) as tmp:
            source.download(cfg, tmp, downloads_dir=dl, where=where, progress=progress)
        log.info("%s: raw data in %s", dataset, out)
    except (ParamsError, DatasetError, DownloadError, UnknownNameError) as e:
        raise click.ClickException(str(e)) from e


if __name__ == "__main__":
    main()
