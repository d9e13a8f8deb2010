"""``python -m seginterp.report``: write reports/<D>.html for the datasets of params.yaml."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from seginterp.core.params import load_params
from seginterp.report.page import write_report
from seginterp.report.sources import ReportError

log = logging.getLogger("seginterp.report")


@click.command()
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    help="Dataset to report (repeatable); default: the `datasets` list of params.yaml.",
)
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Project root holding metrics/ and dvclive/.",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Directory for <dataset>.html (relative paths are under --root).",
)
def main(datasets: tuple[str, ...], root: Path, out_dir: Path) -> None:
    """Write reports/<D>.html: a report of dataset D that renders with no network."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not datasets:
        listed = load_params(root / "params.yaml").get("datasets") or []
        datasets = tuple(str(d) for d in listed)
        if not datasets:
            raise click.ClickException(f"{root / 'params.yaml'}: `datasets` is empty")
    out_dir = out_dir if out_dir.is_absolute() else root / out_dir
    failed = []
    for d in datasets:
        try:
            path = write_report(root, d, out_dir / f"{d}.html")
        except ReportError as exc:
            log.error("%s", exc)
            failed.append(d)
            continue
        log.info("%s: wrote %s (%.0f kB)", d, path, path.stat().st_size / 1024)
    if failed:
        raise click.ClickException(f"no report for {', '.join(failed)} (see the errors above)")


if __name__ == "__main__":
    main()
