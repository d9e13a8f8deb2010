"""Owner of the plots directories: each replicate's evaluate stage's
(``metrics/<D>/replicates/<seed>/plots``) and the pool stage's (``metrics/<D>/plots``: the layer
tables only).

The evaluate stage's holds ``figures/`` (PNG) and the per-layer vega tables
``layer_infidelity/<method>.csv`` and ``layer_regions/<method>.csv``. The directory is
rebuilt in a temporary sibling and swapped in whole, so nothing of an earlier run stays behind.
When no test image has a border, every declared output still exists: the figure says so and the
tables have their header and no row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from seginterp.core.io import atomic_dir
from seginterp.evaluate.figures import ImageRow, message_figure, write_map_figures
from seginterp.evaluate.render.plots import PLOT_KINDS, write_empty_plot_tables, write_plot_tables
from seginterp.evaluate.results.table import Results
from seginterp.explain.store import ImageMaps

NOTHING_TO_SHOW = "no test image has a border: nothing to explain or show"


def write_plots_dir(
    plots_dir: Path,
    rows: Sequence[ImageRow],
    stored: Sequence[ImageMaps],
    attributed: Mapping[str, Sequence[str]],
    layer_order: Sequence[str],
    results: Results | None,
    sigma: float,
) -> None:
    """Write ``plots_dir`` anew.

    Args:
        rows, stored: the shown images and their stored maps (empty: the "nothing" figure).
        attributed: ``methods``, ``layer_methods`` and ``layers`` that were attributed.
        layer_order: every layer name in network order.
        results: the results table the layer tables come from; None when nothing was scored
            (header-only tables).
        sigma: the σ whose infidelity the tables show.
    """
    methods, layer_methods = attributed["methods"], attributed["layer_methods"]
    with atomic_dir(plots_dir) as tmp:
        fig_dir = tmp / "figures"
        fig_dir.mkdir()
        for kind in PLOT_KINDS:
            (tmp / kind).mkdir()
        if rows:
            write_map_figures(
                fig_dir, rows, stored, methods, layer_methods, attributed["layers"], layer_order
            )
        else:
            message_figure(fig_dir / "maps.png", NOTHING_TO_SHOW)
        if results is not None:
            write_plot_tables(tmp, results, layer_order, sigma)
        else:
            write_empty_plot_tables(tmp, layer_methods)


def write_pooled_plots_dir(
    plots_dir: Path, results: Results, layer_order: Sequence[str], sigma: float
) -> None:
    """Write ``plots_dir`` anew with the per-layer tables of a pooled results table (the
    figures stay with each replicate's own plots directory)."""
    with atomic_dir(plots_dir) as tmp:
        for kind in PLOT_KINDS:
            (tmp / kind).mkdir()
        write_plot_tables(tmp, results, layer_order, sigma)
