"""Plots of the report, drawn with matplotlib's SVG backend (text kept as text), inlined.

- :func:`table_svg`: small multiples of a plot-data table, one panel per numeric column; x =
  ``step``, else ``layer_index`` (ticks labelled by ``layer``), else the row order;
- :func:`curves_svg`: one training metric against ``step``, one line per dvclive file.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from seginterp.report.sources import ReportError

X_COLUMNS = ("step", "layer_index")
NOT_PLOTTED = {"step", "layer_index", "timestamp"}


def value_columns(df: pd.DataFrame, x: str | None) -> tuple[list[str], list[str]]:
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


def x_axis(df: pd.DataFrame) -> tuple[str | None, list[str] | None]:
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

    x, labels = x_axis(df)
    columns, _ = value_columns(df, x)
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
