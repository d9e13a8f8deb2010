"""Figures like the paper's (PNG, matplotlib Agg) and the tables behind the per-layer vega plots.

- :func:`image_rows_figure` (Figs 5/8): one row per image: image, ground truth, prediction with its
  border, then each model-level map (channel-summed) over the grey image in a diverging colormap
  centred at zero. One colour scale per row (symmetric, ±99.5th percentile of |map| over the row's
  maps), so maps of one image compare in magnitude; opacity grows with |value|, so the image shows
  through where a map is ~0.
- :func:`layer_grid_figure` (Figs 6/7/9/10): one row per image, one column per layer (encoder1 …
  decoder5) for one layer method; each cell has its own symmetric scale (layer magnitudes differ by
  orders; the value printed above each cell is its scale).
- :func:`choose_images`: evenly spaced positions, a deterministic choice.
- :func:`write_map_figures`: both kinds of figures from the stored maps of the shown images.
- :func:`layer_plot_tables` / :func:`write_plot_tables`: per-layer rows for DVC vega plots (CSV).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seginterp.core.io import atomic_path
from seginterp.evaluate.regions import to_2d
from seginterp.explain.store import ImageMaps, MapKey

CMAP = "RdBu_r"  # diverging: red positive, blue negative, white at zero


def choose_images(n: int, k: int) -> list[int]:
    """``k`` positions evenly spaced over ``range(n)`` (first and last included), unique, sorted."""
    if n <= 0 or k <= 0:
        return []
    if k >= n:
        return list(range(n))
    return sorted({round(float(v)) for v in np.linspace(0, n - 1, k)})


def _grey(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    if img.max() > 1.0:
        img = img / 255.0
    return img.mean(axis=-1) if img.ndim == 3 else img


def _rgb(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    return np.clip(img / 255.0 if img.max() > 1.0 else img, 0, 1)


def symmetric_scale(maps: Sequence[np.ndarray], q: float = 99.5) -> float:
    """Half-range of a colour scale centred at 0: the ``q``-th percentile of |values|, > 0."""
    vals = np.concatenate([np.abs(np.asarray(m, dtype=np.float64)).ravel() for m in maps])
    if vals.size == 0:
        return 1.0
    s = float(np.percentile(vals, q))
    if s <= 0:
        s = float(vals.max())
    return s if s > 0 else 1.0


def _overlay(ax: Any, image: np.ndarray, attr: np.ndarray, scale: float) -> Any:
    """Grey image with ``attr`` (H, W) on top, colour centred at 0, opacity ∝ |attr| / scale."""
    ax.imshow(_grey(image), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    alpha = np.clip(np.abs(attr) / scale, 0, 1) * 0.9
    return ax.imshow(attr, cmap=CMAP, vmin=-scale, vmax=scale, alpha=alpha, interpolation="nearest")


def _save(fig: Any, path: str | Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def _no_ticks(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


@dataclass
class ImageRow:
    """One image of :func:`image_rows_figure`: arrays (H, W[, 3]) and maps name -> (C|-, H, W)."""

    image_id: str
    image: np.ndarray
    truth: np.ndarray
    pred: np.ndarray
    border: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)


def image_rows_figure(rows: Sequence[ImageRow], methods: Sequence[str], path: str | Path) -> None:
    """Figs 5/8: per image, image | ground truth | prediction + border | each method's map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("image_rows_figure needs at least one image")
    ncol = 3 + len(methods)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(2.1 * ncol, 2.3 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        maps2d = [to_2d(row.maps[m]) for m in methods]
        scale = symmetric_scale(maps2d) if maps2d else 1.0
        ax = axes[r]
        ax[0].imshow(_rgb(row.image), interpolation="nearest")
        ax[0].set_title(f"{row.image_id}", fontsize=8)
        ax[1].imshow(np.asarray(row.truth, dtype=float), cmap="gray", vmin=0, vmax=1)
        ax[1].set_title("ground truth", fontsize=8)
        ax[2].imshow(np.asarray(row.pred, dtype=float), cmap="gray", vmin=0, vmax=1)
        b = np.asarray(row.border, dtype=bool)
        edge = np.zeros((*b.shape, 4))
        edge[b] = (1.0, 0.85, 0.0, 1.0)  # border in yellow
        ax[2].imshow(edge, interpolation="nearest")
        ax[2].set_title(f"prediction, |B|={int(b.sum())}", fontsize=8)
        im = None
        for j, (m, a) in enumerate(zip(methods, maps2d, strict=True)):
            im = _overlay(ax[3 + j], row.image, a, scale)
            ax[3 + j].set_title(f"{m}\nmax|Φ| {np.abs(a).max():.2g}", fontsize=8)
        for a in ax:
            _no_ticks(a)
        if im is not None:
            cb = fig.colorbar(im, ax=list(ax[3:]), fraction=0.02, pad=0.01)
            cb.ax.tick_params(labelsize=6)
    _save(fig, path)


def layer_grid_figure(
    rows: Sequence[tuple[str, np.ndarray, Mapping[str, np.ndarray]]],
    layers: Sequence[str],
    method: str,
    path: str | Path,
) -> None:
    """Figs 6/7/9/10: rows = images ``(id, image, {layer: (H, W) map})``, columns = layers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows or not layers:
        raise ValueError("layer_grid_figure needs at least one image and one layer")
    ncol = 1 + len(layers)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(1.7 * ncol, 1.9 * len(rows)), squeeze=False)
    for r, (image_id, image, maps) in enumerate(rows):
        ax = axes[r]
        ax[0].imshow(_rgb(image), interpolation="nearest")
        ax[0].set_title(image_id, fontsize=7)
        for j, layer in enumerate(layers):
            a = to_2d(maps[layer])
            scale = symmetric_scale([a])
            _overlay(ax[1 + j], image, a, scale)
            ax[1 + j].set_title(f"{layer}\n±{scale:.2g}", fontsize=7)
        for a in ax:
            _no_ticks(a)
    fig.suptitle(f"layer {method} (red +, blue −; own scale per cell)", fontsize=9)
    _save(fig, path)


def write_map_figures(
    fig_dir: Path,
    rows: Sequence[ImageRow],
    stored: Sequence[ImageMaps],
    methods: Sequence[str],
    layer_methods: Sequence[str],
    layers: Sequence[str],
    layer_order: Sequence[str],
) -> None:
    """``maps.png`` (model-level ``methods``) and ``layers_<m>.png`` per layer method.

    Args:
        fig_dir: output directory.
        rows: the shown images (their ``maps`` are filled here from ``stored``).
        stored: each shown image's stored maps, aligned with ``rows``.
        methods, layer_methods, layers: what was attributed, in the order shown.
        layer_order: every layer name in network order (the column order of the grids).
    """
    full, grids = [], {lm: [] for lm in layer_methods}
    for row, image in zip(rows, stored, strict=True):
        maps = {m: image.maps[MapKey(m)] for m in methods if MapKey(m) in image.maps}
        full.append(dataclasses.replace(row, maps=maps))
        for lm in layer_methods:
            keys = [(k, MapKey(lm, k)) for k in layers]
            grid = {k: image.maps[key] for k, key in keys if key in image.maps}
            grids[lm].append((row.image_id, row.image, grid))
    image_rows_figure(full, [m for m in methods if m in full[0].maps], fig_dir / "maps.png")
    for lm, grid_rows in grids.items():
        present = [k for k in layer_order if k in grid_rows[0][2]]
        if present:
            layer_grid_figure(grid_rows, present, lm, fig_dir / f"layers_{lm}.png")


def _infidelity_table(
    unnormalized: Mapping[str, Any],
    normalized: Mapping[str, Any],
    sensitivity: Mapping[str, Any],
    layer_order: Sequence[str],
) -> list[dict[str, Any]]:
    """Rows of one layer method: its infidelity blocks and sensitivity summaries per layer."""
    rows = []
    for i, layer in enumerate(layer_order):
        if layer not in unnormalized:
            continue
        u, n, s = unnormalized[layer], normalized[layer], sensitivity.get(layer)
        rows.append(
            {
                "layer_index": i,
                "layer": layer,
                "infidelity": u["infidelity"]["mean"],
                "zero_infidelity": u["zero_infidelity"]["mean"],
                "skill": u["skill"]["mean"],
                "infidelity_normalized": n["infidelity"]["mean"],
                "skill_normalized": n["skill"]["mean"],
                "sensitivity": s["mean"] if s else None,
            }
        )
    return rows


def _regions_table(
    per_layer: Mapping[str, Any], layer_order: Sequence[str]
) -> list[dict[str, Any]]:
    """Rows of one layer method: its region blocks per layer."""
    rows = []
    for i, layer in enumerate(layer_order):
        if layer not in per_layer:
            continue
        b = per_layer[layer]
        rows.append(
            {
                "layer_index": i,
                "layer": layer,
                "band_share": b["band"]["abs_share"]["mean"],
                "inside_share": b["inside"]["abs_share"]["mean"],
                "outside_share": b["outside"]["abs_share"]["mean"],
                "band_net_share": b["band"]["net_share"]["mean"],
                "inside_net_share": b["inside"]["net_share"]["mean"],
                "band_enrichment": b["band"]["enrichment"]["mean"],
                "n_claim": b["n_claim_band_positive_inside_negative"],
                "n": b["n"],
            }
        )
    return rows


def layer_plot_tables(
    fragility: Mapping[str, Any],
    regions: Mapping[str, Any],
    layer_order: Sequence[str],
    sigma_key: str,
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Rows for the per-layer DVC vega plots, one table per kind and layer method.

    Returns ``{("layer_infidelity", method): rows, ("layer_regions", method): rows}`` (the kind
    is the plot directory); every row has ``layer_index`` (0 = encoder1 … along the network) and
    ``layer``. Infidelity rows (σ of ``sigma_key``): ``infidelity``, ``zero_infidelity``,
    ``skill``, ``infidelity_normalized``, ``skill_normalized``, ``sensitivity`` (null when not
    computed). Region rows: ``band_share``, ``inside_share``, ``outside_share`` (abs mass shares),
    ``band_net_share``, ``inside_net_share``, ``band_enrichment``, ``n_claim``, ``n``.
    """
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    block = fragility["infidelity"][sigma_key]
    sens = fragility.get("sensitivity", {}).get("layer", {})
    for method, per_layer in block["unnormalized"]["layer"].items():
        normalized = block["normalized"]["layer"][method]
        out[("layer_infidelity", method)] = _infidelity_table(
            per_layer, normalized, sens.get(method, {}), layer_order
        )
    for method, per_layer in regions["layer"].items():
        out[("layer_regions", method)] = _regions_table(per_layer, layer_order)
    return out


def write_plot_tables(
    plots_dir: Path,
    fragility: Mapping[str, Any],
    regions: Mapping[str, Any],
    layer_order: Sequence[str],
    sigma_key: str,
) -> None:
    """``<plots_dir>/<kind>/<layer method>.csv`` for every table of :func:`layer_plot_tables`."""
    for (kind, method), rows in layer_plot_tables(
        fragility, regions, layer_order, sigma_key
    ).items():
        with atomic_path(plots_dir / kind / f"{method}.csv") as tmp:
            pd.DataFrame(rows).to_csv(tmp, index=False)
