"""Figures like the paper's (PNG, matplotlib Agg).

- :func:`image_rows_figure` (Figs 5/8): one row per image: the image with the ground truth
  (green) and the prediction (magenta) outlined, the ground truth, the prediction with its border
  (yellow), then each model-level map (channel-summed) over the grey image in a diverging colormap
  centred at zero; opacity grows with |value|, so the image shows through where a map is ~0.
- :func:`layer_grid_figure` (Figs 6/7/9/10): one row per image, one column per layer (encoder1 …
  decoder5) for one layer method.
- Colour scales (:func:`panel_scales`): symmetric, ±the 99.5th percentile of |Φ|
  (:data:`SCALE_PERCENTILE`), per panel by default (``scale="panel"``: maps of very different
  magnitude all stay visible, as in the paper's figures) or shared per row (``scale="row"``: the
  maps of one image compare in magnitude). The scale is printed on each panel and each colour bar
  is labelled. A ``sampled(K)`` map says so in its title.
- :func:`write_map_figures`: both kinds of figures from the stored maps of the shown images;
  :func:`message_figure` when there is nothing to show.

The tables behind the per-layer vega plots are made in :mod:`seginterp.evaluate.render.plots`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from seginterp.core.io import atomic_path
from seginterp.evaluate.regions import to_2d
from seginterp.explain.store import ImageMaps, MapKey

CMAP = "RdBu_r"  # diverging: red positive, blue negative, white at zero
SCALE_PERCENTILE = 99.5  # a colour scale's half-range: this percentile of |Φ|
TRUTH_COLOUR, PRED_COLOUR, BORDER_COLOUR = "#00c853", "#d500f9", (1.0, 0.85, 0.0)
COLORBAR_LABEL = "attribution (signed)"
Scale = Literal["panel", "row"]
METHOD_NAMES: dict[str, str] = {  # display names (others: "_" -> " ")
    "saliency": "Saliency", "integrated_gradients": "Integrated Gradients",
    "deeplift": "DeepLIFT", "input_x_gradient": "Input × Gradient", "gradcam": "Grad-CAM",
    "guided_backprop": "Guided Backprop", "guided_gradcam": "Guided Grad-CAM",
}  # fmt: skip


def method_title(method: str, mode: str | None = None) -> str:
    """Display name of ``method``, with `` — sampled(K)`` when ``mode`` is a sampled mode."""
    name = METHOD_NAMES.get(method, method.replace("_", " "))
    return f"{name} — {mode}" if mode and mode.startswith("sampled") else name


def _rgb(image: np.ndarray, grey: bool = False) -> np.ndarray:
    """(H, W, 3) or (H, W) in [0, 1] (uint8 range scaled); ``grey``: the channel mean (H, W)."""
    img = np.asarray(image, dtype=np.float64)
    img = np.clip(img / 255.0 if img.max() > 1.0 else img, 0, 1)
    return img.mean(axis=-1) if grey and img.ndim == 3 else img


def symmetric_scale(maps: Sequence[np.ndarray], q: float = SCALE_PERCENTILE) -> float:
    """Half-range of a colour scale centred at 0: the ``q``-th percentile of |values|, > 0
    (the max of |values| when that percentile is 0, 1 for an all-zero map)."""
    vals = np.concatenate([np.abs(np.asarray(m, dtype=np.float64)).ravel() for m in maps])
    if vals.size == 0:
        return 1.0
    s = float(np.percentile(vals, q))
    if s <= 0:
        s = float(vals.max())
    return s if s > 0 else 1.0


def panel_scales(
    maps: Sequence[np.ndarray], scale: Scale = "panel", q: float = SCALE_PERCENTILE
) -> list[float]:
    """The colour half-range of each map (H, W) of one row: its own :func:`symmetric_scale`
    (``"panel"``) or one shared by the whole row (``"row"``)."""
    if scale == "row":
        return [symmetric_scale(maps, q)] * len(maps) if len(maps) else []
    if scale == "panel":
        return [symmetric_scale([m], q) for m in maps]
    raise ValueError(f"scale must be 'panel' or 'row', got {scale!r}")


def _caption(scale: Scale) -> str:
    where = "own scale per panel" if scale == "panel" else "one scale per row"
    return (
        f"red +, blue −, opacity ∝ |Φ|; {where}: ±p{SCALE_PERCENTILE:g} of |Φ|, printed bottom-left"
    )


def _overlay(ax: Any, image: np.ndarray, attr: np.ndarray, scale: float) -> Any:
    """Grey image with ``attr`` (H, W) on top, colour centred at 0, opacity ∝ |attr| / scale;
    the colour bar (labelled :data:`COLORBAR_LABEL`) and the printed scale; returns the bar."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize
    from matplotlib.ticker import FuncFormatter

    ax.imshow(_rgb(image, grey=True), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    alpha = np.clip(np.abs(attr) / scale, 0, 1) * 0.9
    ax.imshow(attr, cmap=CMAP, vmin=-scale, vmax=scale, alpha=alpha, interpolation="nearest")
    ax.text(
        0.03, 0.03, f"±{scale:.2g}", transform=ax.transAxes, fontsize=7, va="bottom",
        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
    )  # fmt: skip
    mappable = plt.cm.ScalarMappable(norm=Normalize(-scale, scale), cmap=CMAP)
    cb = ax.figure.colorbar(mappable, ax=ax, fraction=0.046, pad=0.02, ticks=[-scale, 0, scale])
    cb.ax.tick_params(labelsize=6)
    cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2g}"))
    cb.set_label(COLORBAR_LABEL, fontsize=7, labelpad=1)
    return cb


def outline_masks(ax: Any, truth: np.ndarray | None, pred: np.ndarray) -> list[Any]:
    """Outline ``truth`` (green; None: unknown) and ``pred`` (magenta, dashed), (H, W) masks, on
    ``ax``; returns the contour sets drawn (none for a mask that is all 0 or all 1)."""
    drawn = []
    for mask, colour, style in ((truth, TRUTH_COLOUR, "solid"), (pred, PRED_COLOUR, "dashed")):
        if mask is None:
            continue
        m = np.asarray(mask, dtype=float)
        if m.min() < 0.5 < m.max():
            drawn.append(
                ax.contour(m, levels=[0.5], colors=[colour], linewidths=1.2, linestyles=style)
            )
    return drawn


def _legend(fig: Any) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Line2D([], [], color=TRUTH_COLOUR, label="ground truth (outline)"),
        Line2D([], [], color=PRED_COLOUR, linestyle="--", label="prediction (outline)"),
        Patch(color=BORDER_COLOUR, label="border B of the prediction"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)


def _figure(nrow: int, ncol: int, w: float, h: float) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = (w * ncol, h * nrow + 0.5)
    fig, axes = plt.subplots(nrow, ncol, figsize=size, squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    return fig, axes


def _map_panels(
    axes: Sequence[Any], image: np.ndarray, maps: Sequence[np.ndarray], titles: Sequence[str],
    scale: Scale, fontsize: float,
) -> None:  # fmt: skip
    """Each map (H, W) over ``image`` on its axis, titled, at its :func:`panel_scales` scale."""
    for ax, a, title, s in zip(axes, maps, titles, panel_scales(maps, scale), strict=True):
        _overlay(ax, image, a, s)
        ax.set_title(title, fontsize=fontsize)


def _save(fig: Any, path: str | Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


@dataclass
class ImageRow:
    """One image of :func:`image_rows_figure`: arrays (H, W[, 3]) (``truth`` None: no ground
    truth), maps name -> (C|-, H, W), and optionally each map's mode (name -> ``exact`` /
    ``one-pass`` / ``sampled(K)``)."""

    image_id: str
    image: np.ndarray
    truth: np.ndarray | None
    pred: np.ndarray
    border: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)


def _masks_panels(ax: Any, row: ImageRow) -> None:
    """Image with outlines | ground truth | prediction with its border."""
    ax[0].imshow(_rgb(row.image), interpolation="nearest")
    outline_masks(ax[0], row.truth, row.pred)
    ax[0].set_title(row.image_id, fontsize=8)
    if row.truth is None:
        ax[1].axis("off")
        ax[1].text(0.5, 0.5, "no ground truth", ha="center", va="center", fontsize=8)
    else:
        ax[1].imshow(np.asarray(row.truth, dtype=float), cmap="gray", vmin=0, vmax=1)
        ax[1].set_title("ground truth", fontsize=8)
    ax[2].imshow(np.asarray(row.pred, dtype=float), cmap="gray", vmin=0, vmax=1)
    b = np.asarray(row.border, dtype=bool)
    edge = np.zeros((*b.shape, 4))
    edge[b] = (*BORDER_COLOUR, 1.0)
    ax[2].imshow(edge, interpolation="nearest")
    ax[2].set_title(f"prediction, border |B|={int(b.sum())}", fontsize=8)


def image_rows_figure(
    rows: Sequence[ImageRow], methods: Sequence[str], path: str | Path, scale: Scale = "panel"
) -> None:
    """Figs 5/8: per image, image | ground truth | prediction + border | each method's map;
    ``scale`` as in :func:`panel_scales`."""
    if not rows:
        raise ValueError("image_rows_figure needs at least one image")
    fig, axes = _figure(len(rows), 3 + len(methods), 2.4, 2.3)
    for r, row in enumerate(rows):
        ax = axes[r]
        _masks_panels(ax, row)
        maps2d = [to_2d(row.maps[m]) for m in methods]
        titles = [method_title(m, row.modes.get(m)) for m in methods]
        _map_panels(ax[3:], row.image, maps2d, titles, scale, 8)
    _legend(fig)
    fig.suptitle(f"model-level maps ({_caption(scale)})", fontsize=9)
    _save(fig, path)


def layer_grid_figure(
    rows: Sequence[tuple[str, np.ndarray, Mapping[str, np.ndarray]]],
    layers: Sequence[str],
    method: str,
    path: str | Path,
    scale: Scale = "panel",
    modes: Sequence[Mapping[str, str]] | None = None,
) -> None:
    """Figs 6/7/9/10: rows = images ``(id, image, {layer: (H, W) map})``, columns = layers;
    ``scale`` as in :func:`panel_scales`; ``modes``: per row, layer -> mode (titles)."""
    if not rows or not layers:
        raise ValueError("layer_grid_figure needs at least one image and one layer")
    fig, axes = _figure(len(rows), 1 + len(layers), 2.0, 1.9)
    for r, (image_id, image, maps) in enumerate(rows):
        ax = axes[r]
        ax[0].imshow(_rgb(image), interpolation="nearest")
        ax[0].set_title(image_id, fontsize=7)
        row_modes = modes[r] if modes is not None else {}
        titles = [method_title(k, row_modes.get(k)) for k in layers]
        _map_panels(ax[1:], image, [to_2d(maps[k]) for k in layers], titles, scale, 7)
    fig.suptitle(f"layer {method_title(method)} ({_caption(scale)})", fontsize=9)
    _save(fig, path)


def message_figure(path: str | Path, message: str) -> None:
    """A figure that only says ``message`` (written where a figure is declared but has no data)."""
    fig, ax = _figure(1, 1, 6.0, 1.5)
    ax = np.ravel([ax])[0]
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, wrap=True)
    _save(fig, path)


def write_map_figures(
    fig_dir: Path,
    rows: Sequence[ImageRow],
    stored: Sequence[ImageMaps],
    methods: Sequence[str],
    layer_methods: Sequence[str],
    layers: Sequence[str],
    layer_order: Sequence[str],
    scale: Scale = "panel",
) -> None:
    """``maps.png`` (model-level ``methods``) and ``layers_<m>.png`` per layer method.

    Args:
        fig_dir: output directory.
        rows: the shown images (their ``maps`` and ``modes`` are filled here from ``stored``).
        stored: each shown image's stored maps, aligned with ``rows``.
        methods, layer_methods, layers: what was attributed, in the order shown.
        layer_order: every layer name in network order (the column order of the grids).
        scale: colour scale per panel or per row (:func:`panel_scales`).
    """

    full, grids, grid_modes = [], {lm: [] for lm in layer_methods}, {lm: [] for lm in layer_methods}
    for row, image in zip(rows, stored, strict=True):
        keys = {m: MapKey(m) for m in methods if MapKey(m) in image.maps}
        modes = {m: image.modes.get(k, "unknown") for m, k in keys.items()}
        full.append(dataclasses.replace(row, maps=_pick(image, keys), modes=modes))
        for lm in layer_methods:
            keys = {k: MapKey(lm, k) for k in layers if MapKey(lm, k) in image.maps}
            grids[lm].append((row.image_id, row.image, _pick(image, keys)))
            grid_modes[lm].append({k: image.modes.get(v, "unknown") for k, v in keys.items()})
    shown = [m for m in methods if m in full[0].maps]
    image_rows_figure(full, shown, fig_dir / "maps.png", scale=scale)
    for lm, grid_rows in grids.items():
        present = [k for k in layer_order if k in grid_rows[0][2]]
        if present:
            path = fig_dir / f"layers_{lm}.png"
            layer_grid_figure(grid_rows, present, lm, path, scale=scale, modes=grid_modes[lm])


def _pick(image: ImageMaps, keys: Mapping[str, MapKey]) -> dict[str, np.ndarray]:
    return {name: image.maps[key] for name, key in keys.items()}
