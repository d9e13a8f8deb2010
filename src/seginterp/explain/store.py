"""The attribute stage's on-disk schema: the per-image npz and the Parquet table.

This module is the only one that knows the npz keys and the table columns; everything else goes
through :func:`write_image` / :func:`read_image` and :func:`table_row` / :data:`TABLE_COLUMNS`.

Per image, ``<dir>/<id>.npz`` holds (keys in this order):

- ``border`` (H, W) uint8, ``status`` str (``ok`` / ``empty_prediction`` / ``full_prediction``);
- per map: ``model/<method>`` (C, H, W) float32, or ``layer/<method>/<layer>`` (H, W) float32
  (channel sum, bilinear to the input); ``mode/<that key>`` str; for layer maps
  ``native/<method>/<layer>`` (h, w) float32 at the layer's resolution;
- ``sample`` (H, W) uint8 when nonlinear maps were ``sampled(K)``: the pixels they average over.

The table has one row per image × method × layer (:data:`TABLE_COLUMNS`). Statistics are over the
stored map (model level, all channels) or the native layer map. Images without a border keep
their rows with their status, no map and null statistics.

Completeness columns, for methods that claim it (DeepLIFT, layer DeepLIFT, Integrated Gradients;
null for the others): ``delta_f`` = ``f(x) − f(x₀)`` from the configured baseline;
``completeness`` = what ``sum`` equals: ``exact`` (``delta_f`` up to float rounding),
``approximate`` (up to the path-integral error), ``partial`` (a layer that skip connections
bypass: ``delta_f`` minus their DeepLIFT contributions, see
:mod:`seginterp.explain.completeness`); ``completeness_residual`` = ``sum − delta_f``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from seginterp.core.io import write_npz

if TYPE_CHECKING:
    from seginterp.explain.records import MapRecord

TABLE_COLUMNS: tuple[str, ...] = (
    "id",
    "index",
    "level",
    "method",
    "layer",
    "mode",
    "variant",
    "n_border",
    "n_explained",
    "shared",
    "sum",
    "pos_mass",
    "neg_mass",
    "max",
    "min",
    "delta_f",
    "completeness",
    "completeness_residual",
    "status",
)


@dataclass(frozen=True, order=True)
class MapKey:
    """Which map: a model-level ``method`` (``layer`` None) or a layer method at ``layer``."""

    method: str
    layer: str | None = None

    @property
    def level(self) -> str:
        return "model" if self.layer is None else "layer"

    @property
    def label(self) -> str:
        """Human-readable: ``saliency`` or ``deeplift@decoder3``."""
        return self.method if self.layer is None else f"{self.method}@{self.layer}"

    def _npz(self) -> str:
        return f"model/{self.method}" if self.layer is None else f"layer/{self.method}/{self.layer}"


def _key_from_npz(name: str) -> MapKey | None:
    parts = name.split("/")
    if parts[0] == "model" and len(parts) == 2:
        return MapKey(parts[1])
    if parts[0] == "layer" and len(parts) == 3:
        return MapKey(parts[1], parts[2])
    return None


@dataclass
class ImageMaps:
    """Everything stored for one image.

    ``maps``: model level (C, H, W), layer level (H, W) upsampled; ``natives``: layer level
    (h, w); ``sample``: (H, W) bool pixels of ``sampled(K)`` maps, else None.
    """

    border: np.ndarray
    status: str
    sample: np.ndarray | None = None
    maps: dict[MapKey, np.ndarray] = field(default_factory=dict)
    modes: dict[MapKey, str] = field(default_factory=dict)
    natives: dict[MapKey, np.ndarray] = field(default_factory=dict)

    @property
    def keys(self) -> list[MapKey]:
        return list(self.maps)


def check_image_id(image_id: str) -> str:
    """``image_id`` if it is usable as a file name, else a ValueError."""
    if Path(image_id).name != image_id or image_id in ("", ".", ".."):
        raise ValueError(f"image id {image_id!r} cannot be a file name")
    return image_id


def image_path(directory: Path, image_id: str) -> Path:
    return Path(directory) / f"{check_image_id(image_id)}.npz"


def write_image(
    directory: Path, image_id: str, border: np.ndarray, status: str, records: Iterable[MapRecord]
) -> Path:
    """Write ``<directory>/<image_id>.npz`` from the border (H, W) bool and the records."""
    arrays: dict[str, np.ndarray] = {
        "border": np.asarray(border).astype(np.uint8),
        "status": np.array(status),
    }
    for rec in records:
        key = MapKey(rec.method, rec.layer)._npz()
        arrays[key] = rec.map.astype(np.float32)
        arrays[f"mode/{key}"] = np.array(rec.mode)
        if rec.native is not None:
            arrays[f"native/{rec.method}/{rec.layer}"] = rec.native.astype(np.float32)
        if rec.pixels is not None:
            arrays["sample"] = rec.pixels.astype(np.uint8)
    path = image_path(directory, image_id)
    write_npz(path, arrays)
    return path


def read_image(directory: Path, image_id: str, *, maps: bool = True) -> ImageMaps:
    """Read one image's npz; ``maps=False`` reads only the border, status and sample."""
    with np.load(image_path(directory, image_id)) as npz:
        files = set(npz.files)
        out = ImageMaps(
            border=npz["border"].astype(bool),
            status=str(npz["status"]),
            sample=npz["sample"].astype(bool) if "sample" in files else None,
        )
        if not maps:
            return out
        for name in npz.files:
            key = _key_from_npz(name)
            if key is None:
                continue
            out.maps[key] = npz[name].astype(np.float32)
            mode = f"mode/{name}"
            out.modes[key] = str(npz[mode]) if mode in files else "unknown"
            native = f"native/{key.method}/{key.layer}"
            if key.layer is not None and native in files:
                out.natives[key] = npz[native].astype(np.float32)
    return out


def map_stats(a: np.ndarray) -> dict[str, float]:
    """sum, pos_mass, neg_mass (≤ 0), max, min of a map, in float64."""
    a64 = a.astype(np.float64)
    return {
        "sum": float(a64.sum()),
        "pos_mass": float(a64[a64 > 0].sum()),
        "neg_mass": float(a64[a64 < 0].sum()),
        "max": float(a64.max()),
        "min": float(a64.min()),
    }


def table_row(image_id: str, index: int, rec: MapRecord) -> dict[str, Any]:
    """The table row of one map of an image with a border."""
    stats = map_stats(rec.map if rec.native is None else rec.native)
    residual = None if rec.delta_f is None else stats["sum"] - rec.delta_f
    return {
        "id": image_id,
        "index": index,
        "level": MapKey(rec.method, rec.layer).level,
        "method": rec.method,
        "layer": rec.layer,
        "mode": rec.mode,
        "variant": rec.variant,
        "n_border": rec.n_border,
        "n_explained": rec.n_explained,
        "shared": rec.shared,
        **stats,
        "delta_f": rec.delta_f,
        "completeness": rec.completeness,
        "completeness_residual": residual,
        "status": "ok",
    }


def with_dtypes(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (:data:`TABLE_COLUMNS`) with its stored dtypes: ``shared`` nullable boolean
    (null for images without a border), the completeness numbers float64 (null: NaN)."""
    table["shared"] = table["shared"].astype("boolean")
    for name in ("delta_f", "completeness_residual"):
        table[name] = table[name].astype("float64")
    return table


def skipped_rows(
    image_id: str, index: int, status: str, n_border: int, keys: Sequence[MapKey]
) -> list[dict[str, Any]]:
    """Rows of an image without a border: its status, no map, null statistics."""
    return [
        {
            "id": image_id,
            "index": index,
            "level": k.level,
            "method": k.method,
            "layer": k.layer,
            "n_border": n_border,
            "n_explained": 0,
            "status": status,
        }
        for k in keys
    ]
