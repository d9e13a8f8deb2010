"""Where a map puts its mass: border band, inside the segment, outside.

Regions of an image with prediction ``M`` and border ``B`` (partition of the pixels):

- ``band``: ``B`` dilated by ``band_width`` px with the 4-connected cross, i.e. every pixel within
  city-block distance ``band_width`` of a border pixel (``band_width=0``: the border itself);
- ``inside``: ``M`` minus the band;
- ``outside``: not ``M``, minus the band.

For a map ``Φ`` (model maps are summed over channels first; layer maps are already (H, W)), with
``P = Σ max(Φ, 0)``, ``N = Σ max(−Φ, 0)`` over the whole image and ``P_r``, ``N_r`` over region
``r``: ``pos_share = P_r / P``, ``neg_share = N_r / N``, ``abs_share = (P_r + N_r) / (P + N)``
(each sums to 1 over the regions), ``net_share = (P_r − N_r) / (P + N)`` (sums to the map's overall
signed share), ``area_share`` = region pixels / all pixels and ``enrichment = abs_share /
area_share`` (> 1: the region holds more mass than its area). Over the whole map: ``coverage_90``,
the fraction of the image's pixels that hold 90 % of ``|Φ|`` (largest first: how many pixels the
map marks), and for layer maps ``native_abs_mass = Σ|L|`` of the map at the layer's own
resolution (the layer's effect, whatever the upsampling).

A map's support can force a share, so :func:`null_region_rows` runs the same analysis on the
randomized-weights model's maps of the same functions (:data:`NULL_METRIC`). The statistics over
images are in :mod:`seginterp.evaluate.results.regions` and :mod:`seginterp.evaluate.results.null`;
:func:`depth_rhos` (a per-image ρ) stays here.

The paper's "border pixels positive, inner pixels negative" holds for a map when its band net mass
is > 0 and its inside net mass is < 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.functions import image_functions, stored_map_function
from seginterp.evaluate.measure import MeasureContext, Metric, choose_images
from seginterp.explain.store import ImageMaps, MapKey

if TYPE_CHECKING:
    from seginterp.evaluate.randomized import MapPair

REGIONS: tuple[str, ...] = ("band", "inside", "outside")
COVERAGE_MASS = 0.9  # coverage_90: the fraction of pixels holding this share of |mass|
SHARES: tuple[str, ...] = ("pos_share", "neg_share", "abs_share", "net_share", "enrichment")
"""The shares of :func:`region_mass` per region (besides ``area_share``)."""


def region_masks(pred: np.ndarray, border: np.ndarray, band_width: int) -> dict[str, np.ndarray]:
    """The three regions (each (H, W) bool, disjoint, covering the image).

    Args:
        pred: (H, W) predicted mask ``M`` (bool or {0, 1}).
        border: (H, W) border ``B`` of ``M``.
        band_width: dilation of ``B`` in px (4-connected steps), >= 0.
    """
    m = np.asarray(pred).astype(bool)
    b = np.asarray(border).astype(bool)
    if m.ndim != 2 or m.shape != b.shape:
        raise ValueError(f"pred {m.shape} and border {b.shape} must be equal (H, W)")
    if band_width < 0:
        raise ValueError(f"band_width must be >= 0, got {band_width}")
    band = b.copy()
    if band_width > 0 and b.any():
        cross = ndimage.generate_binary_structure(2, 1)
        band = ndimage.binary_dilation(b, structure=cross, iterations=band_width)
    return {"band": band, "inside": m & ~band, "outside": ~m & ~band}


def to_2d(attr: np.ndarray) -> np.ndarray:
    """A map as (H, W) float64: (C, H, W) model maps are summed over channels."""
    a = np.asarray(attr, dtype=np.float64)
    if a.ndim == 3:
        return a.sum(axis=0)
    if a.ndim == 2:
        return a
    raise ValueError(f"map must be (H, W) or (C, H, W), got shape {a.shape}")


def region_mass(attr: np.ndarray, masks: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Mass of one map per region, flat ``{<region>_<quantity>: value}``.

    Quantities: ``pos``, ``neg`` (absolute masses), ``net``, ``area_share`` and the shares of the
    module doc. A map without positive (negative) mass has null ``pos_share`` (``neg_share``);
    an all-zero map has every share null. ``claim`` is True when band net > 0 and inside net < 0.
    """
    a = to_2d(attr)
    pos_all = float(np.clip(a, 0, None).sum())
    neg_all = float(np.clip(-a, 0, None).sum())
    tot = pos_all + neg_all
    n_pix = a.size
    out: dict[str, float] = {}
    for r in REGIONS:
        m = np.asarray(masks[r], dtype=bool)
        if m.shape != a.shape:
            raise ValueError(f"region {r} mask {m.shape} does not match map {a.shape}")
        v = a[m]
        p = float(np.clip(v, 0, None).sum())
        n = float(np.clip(-v, 0, None).sum())
        area = m.sum() / n_pix
        abs_share = (p + n) / tot if tot > 0 else None
        out[f"{r}_pos"] = p
        out[f"{r}_neg"] = n
        out[f"{r}_net"] = p - n
        out[f"{r}_area_share"] = float(area)
        out[f"{r}_pos_share"] = p / pos_all if pos_all > 0 else None
        out[f"{r}_neg_share"] = n / neg_all if neg_all > 0 else None
        out[f"{r}_abs_share"] = abs_share
        out[f"{r}_net_share"] = (p - n) / tot if tot > 0 else None
        out[f"{r}_enrichment"] = abs_share / area if abs_share is not None and area > 0 else None
    out["claim"] = bool(out["band_net"] > 0 and out["inside_net"] < 0)
    out["coverage_90"] = coverage(a)
    return out


def coverage(a: np.ndarray, mass: float = COVERAGE_MASS) -> float | None:
    """The fraction of the pixels of ``a`` (H, W) that hold ``mass`` of ``Σ|a|``, largest first;
    null for an all-zero map."""
    v = np.sort(np.abs(np.asarray(a, dtype=np.float64)).ravel())[::-1]
    total = v.sum()
    if total <= 0:
        return None
    k = int(np.searchsorted(np.cumsum(v), mass * total)) + 1
    return min(k, v.size) / v.size


def region_rows(
    image_id: str,
    index: int,
    stored: ImageMaps,
    pred: np.ndarray,
    band_width: int,
    change: Mapping[MapKey, tuple[float, float]] | None = None,
) -> list[dict[str, Any]]:
    """The regions table rows of one image: one per stored map, with :func:`region_mass`.

    Args:
        stored: the image's stored maps (:func:`seginterp.explain.store.read_image`).
        pred: (H, W) the image's predicted mask.
        band_width: see :func:`region_masks`.
        change: map -> ``(f(x), f(x₀))`` of the function it explains (:func:`change_columns`;
            None: the columns are null).
    """
    masks = region_masks(pred, stored.border, band_width)
    rows = []
    for key, attr in stored.maps.items():
        native = stored.natives.get(key)
        rows.append(
            {
                **map_columns(image_id, index, key, stored.modes[key]),
                **region_mass(attr, masks),
                "native_abs_mass": None if native is None else float(np.abs(native).sum()),
                **change_columns(change.get(key) if change else None),
            }
        )
    return rows


def change_columns(fx: tuple[float, float] | None) -> dict[str, float | None]:
    """``f_x``, ``f_x0`` and ``delta_f = f_x − f_x0`` of the function a map explains (null:
    not computed)."""
    if fx is None:
        return {"f_x": None, "f_x0": None, "delta_f": None}
    return {"f_x": fx[0], "f_x0": fx[1], "delta_f": fx[0] - fx[1]}


def map_columns(image_id: str, index: int, key: MapKey, mode: str) -> dict[str, Any]:
    """The columns that say which map of which image a row is about."""
    values = (image_id, index, key.level, key.method, key.layer, mode)
    return dict(zip(("id", "index", "level", "method", "layer", "mode"), values, strict=True))


def null_region_rows(
    image_id: str,
    index: int,
    pairs: Sequence[MapPair],
    pred: np.ndarray,
    border: np.ndarray,
    band_width: int,
    change: Mapping[tuple[MapKey, str], tuple[float, float]] | None = None,
) -> list[dict[str, Any]]:
    """Region rows of the trained and the randomized model's maps of the same functions.

    Args:
        pairs: :func:`seginterp.evaluate.randomized.randomized_pairs` of one image.
        pred, border: (H, W) the trained model's prediction and border (the regions of both).
        change: (map, weights) -> ``(f(x), f(x₀))`` under that model (:func:`change_columns`).

    Returns:
        per pair two rows (``weights`` = ``trained`` / ``randomized``) with :func:`region_mass`.
    """
    masks = region_masks(pred, border, band_width)
    rows = []
    for p in pairs:
        for weights, attr in (("trained", p.trained), ("randomized", p.randomized)):
            rows.append(
                {
                    **map_columns(image_id, index, p.key, p.mode),
                    "function": p.function,
                    "weights": weights,
                    **region_mass(attr, masks),
                    **change_columns(change.get((p.key, weights)) if change else None),
                }
            )
    return rows


def encoder_layers(layer_order: Sequence[str], present: Any) -> list[str]:
    """The encoder layers (encoder1 … bottleneck) of ``layer_order`` that are in ``present``."""
    return [
        k
        for k in layer_order
        if k in set(present) and (k.startswith("encoder") or k == "bottleneck")
    ]


def depth_rhos(sub: Any, layer_order: Sequence[str]) -> Any:
    """Per image (a Series by id), Spearman ρ of band ``abs_share`` vs encoder depth for the
    rows ``sub`` of one layer method; empty when fewer than 3 encoder layers."""
    import pandas as pd

    enc = encoder_layers(layer_order, sub["layer"])
    wide = sub[sub["layer"].isin(enc)].pivot(index="id", columns="layer", values="band_abs_share")
    wide = wide.dropna()
    trend = depth_trend({k: wide[k].to_numpy() for k in enc}) if len(wide) else None
    if trend is None or not trend["n"]:
        return pd.Series(dtype=np.float64)
    return pd.Series(trend["rho_per_image"], index=wide.index, dtype=np.float64)


def depth_trend(band_share: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Per image, Spearman ρ between layer depth and band ``abs_share`` over the given layers.

    Args:
        band_share: layer name (in depth order, shallow first) -> (n,) per-image shares, aligned.

    Returns:
        ``{layers, rho_per_image (list), n_positive, n, mean_rho}``; ρ > 0: deeper layers put
        more of their mass on the band.
    """
    from scipy.stats import spearmanr

    layers = list(band_share)
    arr = np.asarray([np.asarray(band_share[k], dtype=np.float64) for k in layers])  # (L, n)
    if len(layers) < 3 or arr.shape[1] == 0:
        return {"layers": layers, "rho_per_image": [], "n_positive": 0, "n": 0, "mean_rho": None}
    depth = np.arange(len(layers))
    rhos = []
    for j in range(arr.shape[1]):
        col = arr[:, j]
        rho = spearmanr(depth, col).statistic if np.ptp(col) > 0 else 0.0
        rhos.append(float(rho))
    return {
        "layers": layers,
        "rho_per_image": rhos,
        "n_positive": int(sum(r > 0 for r in rhos)),
        "n": len(rhos),
        "mean_rho": float(np.mean(rhos)),
    }


def _rows(c: MeasureContext) -> list[dict[str, Any]]:
    functions, keys = image_functions(c.stored), list(c.stored.maps)
    pixels = [stored_map_function(c.stored.modes[k], functions)[0].pixels for k in keys]
    change = dict(zip(keys, c.change(c.explainer, pixels), strict=True))
    return region_rows(c.ref.id, c.ref.index, c.stored, c.pred, c.cfg.band_width, change)


METRIC = Metric("regions", _rows, sharded=True)
"""The regions table: every scored image."""


def null_images(n: int, cfg: EvaluateConfig) -> list[int]:
    """The positions of the ``null_images`` images among ``n`` scored ones."""
    return choose_images(n, n if cfg.null_images is None else cfg.null_images)


def _null_rows(c: MeasureContext) -> list[dict[str, Any]]:
    pairs = c.pairs(c.model_keys() + c.layer_keys())
    pixels = [p.pixels for p in pairs]
    change = {}
    for weights, ex in (("trained", c.explainer), ("randomized", c.randomized)):
        change |= {(p.key, weights): v for p, v in zip(pairs, c.change(ex, pixels), strict=True)}
    return null_region_rows(c.ref.id, c.ref.index, pairs, c.pred, c.stored.border,
                            c.cfg.band_width, change)  # fmt: skip


NULL_METRIC = Metric("regions_null", _null_rows, null_images)
"""The region null table: every map of the trained and the randomized model on ``null_images``
images."""
