"""Offline HTML report of one dataset's results: metrics tables, plots as inline SVG, figures.

`dvc plots show` writes HTML that loads vega from a CDN, so it shows nothing without network.
:func:`write_report` writes one self-contained file per dataset instead: no script, no external
URL, and a Content-Security-Policy that forbids every network load. Sources, relative to the
project root (missing ones are simply absent from the report):

- metrics tables: ``metrics/<D>/*.json`` and ``dvclive/<D>/metrics.json`` (nested keys flattened);
- training curves: ``dvclive/<D>/plots/metrics/**/*.tsv``, one plot per metric name with one line
  per file (``train/loss.tsv`` and ``val/loss.tsv`` share the plot ``loss``), x = ``step``;
- plot data: ``metrics/<D>/plots/**/*.{csv,tsv,json}``, one plot per file, one panel per numeric
  column (:mod:`seginterp.report.plots`);
- figures: every PNG/JPEG/GIF/SVG image under ``metrics/<D>/`` and ``dvclive/<D>/plots/``,
  embedded as base64.

Run ``python -m seginterp.report`` (or ``make report``) from the project root.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from seginterp.core.io import atomic_path
from seginterp.report.plots import curves_svg, table_svg, value_columns, x_axis
from seginterp.report.sources import (
    IMAGE_TYPES,
    ReportError,
    ReportSources,
    collect_sources,
    read_table,
)

SUMMARY_KEYS = {"mean", "ci_low", "ci_high", "n"}
OPEN_ROWS = 40  # metrics tables longer than this start collapsed
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CSS = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1150px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; }
summary { margin: 0.6em 0; cursor: pointer; }
table.metrics { border-collapse: collapse; font-size: 0.85em; margin-bottom: 1em; }
table.metrics td, table.metrics th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
table.metrics td.value { font-family: monospace; text-align: right; }
table.claims { border-collapse: collapse; font-size: 0.9em; margin-bottom: 1em; }
table.claims td, table.claims th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
tr.verdict-held td { background: #e8f5e9; } tr.verdict-not-held td { background: #fdecea; }
tr.verdict-inconclusive td { background: #f5f5f5; }
figure { margin: 0 0 1.5em 0; }
figure svg { max-width: 100%; height: auto; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; font-family: monospace; }
"""


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "null"
    if isinstance(value, float):
        return format(value, ".6g")
    return str(value)


def flatten(obj: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(dotted key, formatted value)`` for every leaf. Short lists of scalars and the
    ``{mean, ci_low, ci_high, n}`` summaries of :func:`seginterp.evaluate.stats.summary` stay
    one cell."""
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


def _curve_figures(src: ReportSources, uids: Iterator[str]) -> list[str]:
    """One plot per metric name; dvclive files grouped by name (``train/loss``, ``val/loss``; a
    replicate's as ``<seed>/train/loss``)."""
    groups: dict[str, list[Path]] = {}
    for rel in src.curves:
        groups.setdefault(rel.stem, []).append(rel)
    live = Path("dvclive") / src.dataset
    out = []
    for metric, rels in groups.items():
        series = [
            (
                rel.relative_to(live).with_suffix("").as_posix().replace("plots/metrics/", ""),
                read_table(src.root / rel),
            )
            for rel in rels
        ]
        svg = curves_svg(series, metric, next(uids))
        caption = f"{metric}: {', '.join(r.as_posix() for r in rels)}"
        out.append(_figure("plot curve", rels, svg, caption))
    return out


def _table_figures(src: ReportSources, uids: Iterator[str]) -> list[str]:
    out = []
    for rel in src.tables:
        uid = next(uids)
        df = read_table(src.root / rel)
        title = rel.relative_to(Path("metrics") / src.dataset / "plots").with_suffix("").as_posix()
        svg = table_svg(df, title, uid)
        _, empty = value_columns(df, x_axis(df)[0])
        caption = rel.as_posix() + (f" (no values: {', '.join(empty)})" if empty else "")
        out.append(_figure("plot table", [rel], svg, caption))
    return out


def _image_figure(root: Path, rel: Path) -> str:
    data = base64.b64encode((root / rel).read_bytes()).decode("ascii")
    mime = IMAGE_TYPES[rel.suffix.lower()]
    img = f"<img alt='{_e(rel.name)}' src='data:{mime};base64,{data}'>"
    return _figure("image", [rel], img, rel.as_posix())


CLAIM_COLUMNS = ("claim", "group", "source", "paper", "ours", "n", "verdict", "why")


def claims_html(root: Path, dataset: str) -> str | None:
    """``metrics/<D>/claims.json`` as the report's first table (None when it is absent)."""
    path = root / "metrics" / dataset / "claims.json"
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
        claims = doc["claims"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ReportError(f"{path}: not a claims table ({exc})") from exc
    head = "".join(f"<th>{c}</th>" for c in CLAIM_COLUMNS)
    rows = "".join(
        f"<tr class='verdict-{_e(str(c.get('verdict', '')).replace(' ', '-'))}'>"
        + "".join(f"<td>{_e(c.get(col, ''))}</td>" for col in CLAIM_COLUMNS)
        + "</tr>"
        for c in claims
    )
    counts = ", ".join(f"{k}: {v}" for k, v in (doc.get("counts") or {}).items())
    return (
        f"<p>The paper's claims tested on <code>{_e(dataset)}</code> (on the paper's methods: "
        f"{_e(counts)}).</p>\n"
        f"<table class='claims' data-source='metrics/{_e(dataset)}/claims.json'>"
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>\n"
    )


def agreement_html(root: Path, dataset: str) -> str | None:
    """``metrics/<D>/agreement.json``: each method's rank under each faithfulness test, Kendall's
    W and the pairwise τ (None when it is absent)."""
    from seginterp.evaluate.render.agreement import agreement_markdown

    path = root / "metrics" / dataset / "agreement.json"
    if not path.is_file():
        return None
    try:
        text = agreement_markdown(json.loads(path.read_text()), dataset)
    except (json.JSONDecodeError, KeyError, TypeError, StopIteration) as exc:
        raise ReportError(f"{path}: not a ranking-agreement document ({exc})") from exc
    out, rows = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            if not set(line) <= set("|-"):
                rows.append([c.strip() for c in line.strip("|").split("|")])
            continue
        if rows:
            head = "".join(f"<th>{_e(c)}</th>" for c in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>"
                           for r in rows[1:])  # fmt: skip
            out.append(f"<table class='agreement' data-source='metrics/{_e(dataset)}/"
                       f"agreement.json'><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
                       "</table>")  # fmt: skip
            rows = []
        if line:
            out.append("<p>" + re.sub(r"`([^`]+)`", r"<code>\1</code>", _e(line)) + "</p>")
    return "\n".join(out) + "\n"


def _section(anchor: str, title: str, items: list[str]) -> list[str]:
    return [f"<section id='{anchor}'><h2>{title}</h2>", *items, "</section>"]


def render_report(src: ReportSources) -> str:
    """The report of ``src`` as one self-contained HTML string."""
    if src.is_empty():
        raise ReportError(
            f"no pipeline outputs for dataset {src.dataset!r} under {src.root}/metrics and "
            f"{src.root}/dvclive: run `dvc repro` or `dvc pull` first"
        )
    root, d = src.root, src.dataset
    claims, agreement = claims_html(root, d), agreement_html(root, d)
    nav = [("claims", "Claims", [Path("claims.json")] if claims else [])]
    nav += [("agreement", "Ranking agreement", [Path("agreement.json")] if agreement else [])]
    nav += [("metrics", "Metrics", src.metrics), ("curves", "Training curves", src.curves)]
    nav += [("plots", "Plots", src.tables), ("figures", "Figures", src.figures)]
    links = " · ".join(f"<a href='#{i}'>{t} ({len(f)} files)</a>" for i, t, f in nav if f)
    parts = [f"<h1>seginterp report: <code>{_e(d)}</code></h1>", f"<nav>{links}</nav>"]
    uids = (f"plot{i}" for i in itertools.count(1))  # plot ids, unique in the page
    if claims:
        parts += _section("claims", "The paper's claims: verdicts", [claims])
    if agreement:
        parts += _section("agreement", "Do the faithfulness tests rank the methods alike?",
                          [agreement])  # fmt: skip
    if src.metrics:
        parts += _section("metrics", "Metrics", [_metrics_html(root, r) for r in src.metrics])
    if src.curves:
        parts += _section("curves", "Training curves", _curve_figures(src, uids))
    if src.tables:
        parts += _section("plots", "Plots", _table_figures(src, uids))
    if src.figures:
        parts += _section("figures", "Figures", [_image_figure(root, r) for r in src.figures])
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
