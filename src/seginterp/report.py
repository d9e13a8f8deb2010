"""Offline HTML report of one dataset's results: metrics tables, plots as inline SVG, figures.

`dvc plots show` writes HTML that loads vega from a CDN, so it shows nothing without network.
:func:`write_report` writes one self-contained file per dataset instead: no script, no external
URL, and a Content-Security-Policy that forbids every network load. Sources, relative to the
project root (missing ones are simply absent from the report):

- metrics tables: ``metrics/<D>/*.json`` and ``dvclive/<D>/metrics.json`` (nested keys flattened);
- training curves: ``dvclive/<D>/plots/metrics/**/*.tsv``, one plot per metric name with one line
  per file (``train/loss.tsv`` and ``val/loss.tsv`` share the plot ``loss``), x = ``step``;
- plot data: ``metrics/<D>/plots/**/*.{csv,tsv,json}``, one plot per file, one panel per numeric
  column; x = ``step``, else ``layer_index`` (ticks labelled by ``layer``), else the row order;
- figures: every PNG/JPEG/GIF/SVG image under ``metrics/<D>/`` and ``dvclive/<D>/plots/``,
  embedded as base64.

Plots are drawn with matplotlib's SVG backend (text kept as text) and inlined in the page.
Run ``python -m seginterp.report`` (or ``make report``) from the project root.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pandas as pd

from seginterp.io import atomic_path
from seginterp.params import load_params

log = logging.getLogger(__name__)

TABLE_SUFFIXES = (".csv", ".tsv", ".json")
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}
SUMMARY_KEYS = {"mean", "ci_low", "ci_high", "n"}
OPEN_ROWS = 40  # metrics tables longer than this start collapsed
X_COLUMNS = ("step", "layer_index")
NOT_PLOTTED = {"step", "layer_index", "timestamp"}
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CSS = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1150px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; }
summary { margin: 0.6em 0; cursor: pointer; }
table.metrics { border-collapse: collapse; font-size: 0.85em; margin-bottom: 1em; }
table.metrics td, table.metrics th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
table.metrics td.value { font-family: monospace; text-align: right; }
figure { margin: 0 0 1.5em 0; }
figure svg { max-width: 100%; height: auto; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; font-family: monospace; }
"""


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
    if (live_dir / "metrics.json").is_file():
        src.metrics.append(live_dir / "metrics.json")
    src.curves = _files(live_dir / "plots" / "metrics", "**/*.tsv")
    src.tables = [p for p in _files(metrics_dir / "plots", "**/*") if p.suffix in TABLE_SUFFIXES]
    images = _files(metrics_dir, "**/*") + _files(live_dir / "plots", "**/*")
    src.figures = [p for p in images if p.suffix.lower() in IMAGE_TYPES]
    for name in ("metrics", "curves", "tables", "figures"):
        setattr(src, name, [p.relative_to(root) for p in getattr(src, name)])
    return src


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "null"
    if isinstance(value, float):
        return format(value, ".6g")
    return str(value)


def flatten(obj: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(dotted key, formatted value)`` for every leaf. Short lists of scalars and the
    ``{mean, ci_low, ci_high, n}`` summaries of :func:`seginterp.stats.summary` stay one cell."""
    if isinstance(obj, Mapping):
        if set(obj) == SUMMARY_KEYS:
            lo, hi = _fmt(obj["ci_low"]), _fmt(obj["ci_high"])
            yield prefix, f"{_fmt(obj['mean'])} [{lo}, {hi}] n={_fmt(obj['n'])}"
            return
        if not obj:
            yield prefix, "{}"
        for key, value in obj.items():
            yield from flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, list):
        scalars = all(not isinstance(v, Mapping | list) for v in obj)
        if scalars and len(obj) <= 8:
            yield prefix, "[" + ", ".join(_fmt(v) for v in obj) + "]"
        else:
            for i, value in enumerate(obj):
                yield from flatten(value, f"{prefix}[{i}]")
    else:
        yield prefix, _fmt(obj)


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


def _value_columns(df: pd.DataFrame, x: str | None) -> tuple[list[str], list[str]]:
    """Numeric columns to draw, and numeric columns that hold no value at all."""
    drawn, empty = [], []
    for c in df.columns:
        if c == x or c in NOT_PLOTTED or c == "layer":
            continue
        col = df[c]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            if not col.isna().all():
                continue  # a label column
        (drawn if col.notna().any() else empty).append(str(c))
    return drawn, empty


def _x_axis(df: pd.DataFrame) -> tuple[str | None, list[str] | None]:
    """The x column (None = row order) and tick labels (None = numeric ticks)."""
    x = next((c for c in X_COLUMNS if c in df.columns), None)
    if x == "layer_index" and "layer" in df.columns:
        return x, [str(v) for v in df["layer"]]
    if x is None:
        first = df.columns[0] if len(df.columns) else None
        if first is not None and pd.to_numeric(df[first], errors="coerce").isna().all():
            return None, [str(v) for v in df[first]]
    return x, None


def _svg(fig: Any, prefix: str) -> str:
    """A matplotlib figure as an inline ``<svg>`` element: no XML prolog, no external DTD, and
    every id (and reference to it) prefixed so that several SVGs can share one page."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    start = text.find("<svg")
    if start < 0:
        raise ReportError("matplotlib produced no <svg> element")
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text[start:])
    text = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', text)
    return re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", text)


def _new_figure(n_panels: int) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    ncols = min(3, n_panels)
    nrows = math.ceil(n_panels / ncols)
    size = (6.0, 3.4) if n_panels == 1 else (3.8 * ncols, 2.7 * nrows)
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_axis_off()
    return fig, axes[:n_panels]


def table_svg(df: pd.DataFrame, title: str, uid: str) -> str:
    """Small multiples of a plot-data table: one panel per numeric column."""
    import matplotlib

    x, labels = _x_axis(df)
    columns, _ = _value_columns(df, x)
    if not columns:
        raise ReportError(f"{title}: no numeric column to plot (columns: {list(df.columns)})")
    xs = list(range(len(df))) if x is None else pd.to_numeric(df[x], errors="coerce")
    with matplotlib.rc_context({"svg.hashsalt": uid, "svg.fonttype": "none"}):
        fig, axes = _new_figure(len(columns))
        for ax, col in zip(axes, columns, strict=True):
            ax.plot(xs, pd.to_numeric(df[col], errors="coerce"), marker="o", ms=3, lw=1.5)
            ax.set_title(col, fontsize=9)
            ax.set_xlabel("layer" if x == "layer_index" and labels else (x or "row"), fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            if labels is not None:
                ax.set_xticks(list(xs), labels, rotation=45, ha="right")
        fig.suptitle(title, fontsize=10)
        return _svg(fig, uid)


def curves_svg(series: Sequence[tuple[str, pd.DataFrame]], metric: str, uid: str) -> str:
    """One plot of ``metric`` against ``step`` with one line per dvclive file."""
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    with matplotlib.rc_context({"svg.hashsalt": uid, "svg.fonttype": "none"}):
        fig, (ax,) = _new_figure(1)
        for label, df in series:
            ycols = [c for c in df.columns if c not in NOT_PLOTTED]
            if "step" not in df.columns or len(ycols) != 1:
                raise ReportError(f"{label}: expected columns step, <metric>[, timestamp]")
            ax.plot(df["step"], df[ycols[0]], marker="o", ms=3, lw=1.5, label=label)
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        return _svg(fig, uid)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _metrics_html(root: Path, rel: Path) -> str:
    try:
        data = json.loads((root / rel).read_text())
    except json.JSONDecodeError as exc:
        raise ReportError(f"{rel}: not valid JSON ({exc})") from exc
    leaves = list(flatten(data))
    rows = "".join(f"<tr><td>{_e(k)}</td><td class='value'>{_e(v)}</td></tr>" for k, v in leaves)
    name = _e(rel.as_posix())
    is_open = " open" if len(leaves) <= OPEN_ROWS else ""
    return (
        f"<details{is_open}><summary><code>{name}</code> ({len(leaves)} values)</summary>\n"
        f"<table class='metrics' data-source='{name}'><thead><tr><th>key</th><th>value</th></tr>"
        f"</thead><tbody>{rows}</tbody></table></details>\n"
    )


def _figure(kind: str, sources: Sequence[Path], body: str, caption: str) -> str:
    src = " ".join(p.as_posix() for p in sources)
    return (
        f"<figure class='{kind}' data-source='{_e(src)}'>\n{body}\n"
        f"<figcaption>{_e(caption)}</figcaption></figure>\n"
    )


def _curve_groups(curves: Sequence[Path]) -> dict[str, list[Path]]:
    """dvclive curve files grouped by metric name (``train/loss.tsv``, ``val/loss.tsv``)."""
    groups: dict[str, list[Path]] = {}
    for rel in curves:
        groups.setdefault(rel.stem, []).append(rel)
    return groups


def render_report(src: ReportSources) -> str:
    """The report of ``src`` as one self-contained HTML string."""
    if src.is_empty():
        raise ReportError(
            f"no pipeline outputs for dataset {src.dataset!r} under {src.root}/metrics and "
            f"{src.root}/dvclive: run `dvc repro` or `dvc pull` first"
        )
    root, d = src.root, src.dataset
    parts = [f"<h1>seginterp report: <code>{_e(d)}</code></h1>"]
    nav = [("metrics", "Metrics", src.metrics), ("curves", "Training curves", src.curves)]
    nav += [("plots", "Plots", src.tables), ("figures", "Figures", src.figures)]
    links = " · ".join(f"<a href='#{i}'>{t} ({len(f)} files)</a>" for i, t, f in nav if f)
    parts.append(f"<nav>{links}</nav>")

    if src.metrics:
        parts.append("<section id='metrics'><h2>Metrics</h2>")
        parts += [_metrics_html(root, rel) for rel in src.metrics]
        parts.append("</section>")

    n_plots = 0
    if src.curves:
        live_plots = Path("dvclive") / d / "plots" / "metrics"
        parts.append("<section id='curves'><h2>Training curves</h2>")
        for metric, rels in _curve_groups(src.curves).items():
            series = [
                (rel.relative_to(live_plots).with_suffix("").as_posix(), read_table(root / rel))
                for rel in rels
            ]
            n_plots += 1
            svg = curves_svg(series, metric, f"plot{n_plots}")
            caption = f"{metric}: {', '.join(r.as_posix() for r in rels)}"
            parts.append(_figure("plot curve", rels, svg, caption))
        parts.append("</section>")

    if src.tables:
        parts.append("<section id='plots'><h2>Plots</h2>")
        for rel in src.tables:
            n_plots += 1
            df = read_table(root / rel)
            title = rel.relative_to(Path("metrics") / d / "plots").with_suffix("").as_posix()
            svg = table_svg(df, title, f"plot{n_plots}")
            _, empty = _value_columns(df, _x_axis(df)[0])
            caption = rel.as_posix() + (f" (no values: {', '.join(empty)})" if empty else "")
            parts.append(_figure("plot table", [rel], svg, caption))
        parts.append("</section>")

    if src.figures:
        parts.append("<section id='figures'><h2>Figures</h2>")
        for rel in src.figures:
            data = base64.b64encode((root / rel).read_bytes()).decode("ascii")
            mime = IMAGE_TYPES[rel.suffix.lower()]
            img = f"<img alt='{_e(rel.name)}' src='data:{mime};base64,{data}'>"
            parts.append(_figure("image", [rel], img, rel.as_posix()))
        parts.append("</section>")

    body = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">\n"
        f"<title>seginterp report: {_e(d)}</title>\n<style>{CSS}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def write_report(root: str | Path, dataset: str, out: str | Path) -> Path:
    """Write the self-contained HTML report of ``dataset`` under ``root`` to ``out``."""
    text = render_report(collect_sources(root, dataset))
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out


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
