"""The files of one dataset that the report shows, and how plot data is read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

TABLE_SUFFIXES = (".csv", ".tsv", ".json")
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}


class ReportError(RuntimeError):
    """The report cannot be written (no pipeline outputs for the dataset, unreadable file)."""


@dataclass
class ReportSources:
    """Files of one dataset that the report shows, relative to ``root``, sorted."""

    root: Path
    dataset: str
    metrics: list[Path] = field(default_factory=list)
    curves: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.metrics or self.curves or self.tables or self.figures)


def _files(directory: Path, pattern: str) -> list[Path]:
    return sorted(p for p in directory.glob(pattern) if p.is_file()) if directory.is_dir() else []


def collect_sources(root: str | Path, dataset: str) -> ReportSources:
    """Find the metrics, curve, plot-data and figure files of ``dataset`` under ``root``."""
    root = Path(root)
    metrics_dir = root / "metrics" / dataset
    live_dir = root / "dvclive" / dataset
    src = ReportSources(root=root, dataset=dataset)
    src.metrics = _files(metrics_dir, "*.json")
    # dvclive's summary and curves: dvclive/<D>/ for one run, dvclive/<D>/<seed>/ per replicate
    src.metrics += [p for p in _files(live_dir, "**/metrics.json") if "plots" not in p.parts]
    src.curves = _files(live_dir, "**/plots/metrics/**/*.tsv")
    src.tables = [p for p in _files(metrics_dir / "plots", "**/*") if p.suffix in TABLE_SUFFIXES]
    images = _files(metrics_dir, "**/*") + _files(live_dir / "plots", "**/*")
    src.figures = [p for p in images if p.suffix.lower() in IMAGE_TYPES]
    for name in ("metrics", "curves", "tables", "figures"):
        setattr(src, name, [p.relative_to(root) for p in getattr(src, name)])
    return src


def read_table(path: str | Path) -> pd.DataFrame:
    """Plot data as a DataFrame: CSV, TSV, or JSON records (a list, or ``{name: [records]}``)."""
    path = Path(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".tsv":
        return pd.read_csv(path, sep="\t")
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        if isinstance(data, Mapping) and len(data) == 1:
            data = next(iter(data.values()))
        if isinstance(data, list) and all(isinstance(r, Mapping) for r in data):
            return pd.DataFrame(data)
        raise ReportError(f"{path}: expected a list of records (or {{name: [records]}})")
    raise ReportError(f"{path}: unsupported plot data type {path.suffix!r}")
