"""README's picture of a dataset, cut from the first row of the committed run's ``maps.png``:
the image, the prediction with its border and two maps (docs/img/<D>-overview.png)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from seginterp.core.params import load_params
from seginterp.report.lock import ReadmeError, Source, file_md5, locked_outputs, manifest_path

PICTURE_MAPS = ("saliency", "deeplift")
"""The two maps of README's picture (model-level methods, as named in params.yaml)."""


def figures_source(root: Path, dataset: str) -> Source:
    """The figures directory of the dataset's first replicate (lowest seed) in dvc.lock."""
    pattern = re.compile(rf"^metrics/{re.escape(dataset)}/replicates/(\d+)/plots/figures$")
    found = sorted(
        (int(m.group(1)), p, md5)
        for p, md5 in locked_outputs(root / "dvc.lock").items()
        if (m := pattern.match(p))
    )
    if not found:
        raise ReadmeError(f"dvc.lock records no metrics/{dataset}/replicates/<seed>/plots/figures")
    _, path, md5 = found[0]
    return Source(path, md5)


def picture_path(dataset: str) -> Path:
    """README's picture of ``dataset``, relative to the project root."""
    return Path("docs") / "img" / f"{dataset}-overview.png"


def _maps_png(root: Path, figures: Source) -> Path:
    """``maps.png`` of the figures directory, checked against the directory's entry in dvc.lock
    (through its file list in the DVC cache)."""
    path = root / figures.path / "maps.png"
    manifest = manifest_path(root, figures.md5)
    if not path.is_file() or not manifest.is_file():
        raise ReadmeError(f"{figures.path}/maps.png is missing: run `dvc pull` or `dvc repro`")
    entries = {e["relpath"]: e["md5"] for e in json.loads(manifest.read_text())}
    if entries.get("maps.png") != file_md5(path):
        raise ReadmeError(f"{figures.path}/maps.png differs from dvc.lock: run `dvc checkout`")
    return path


def _runs(flags: Any, min_width: int) -> list[tuple[int, int]]:
    """(start, end) of every run of True in ``flags`` at least ``min_width`` long."""
    runs, start = [], None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start >= min_width:
                runs.append((start, i))
            start = None
    return runs


def _methods(root: Path, dataset: str) -> list[str]:
    params = load_params(root / "params.yaml")
    return list(((params.get(dataset) or {}).get("attribute") or {}).get("methods") or [])


def picture(root: Path, dataset: str) -> Any:
    """README's picture (a PIL image): from the first row of ``maps.png``, the image panel, the
    prediction with its border and the :data:`PICTURE_MAPS` panels, side by side.

    The panels of :func:`seginterp.evaluate.figures.image_rows_figure` are told apart by the
    white gaps between them: rows by white pixel rows (the suptitle, then each row's title and
    panels), columns by white columns at least 5 px wide within the first row; there must be
    3 + one per model-level method of params.yaml.
    """
    import numpy as np
    from PIL import Image

    with Image.open(_maps_png(root, figures_source(root, dataset))) as im:
        rgb = np.asarray(im.convert("RGB"))
    white = (rgb >= 245).all(axis=2)
    rows = _runs(white.all(axis=1), 1)
    if len(rows) < 4:
        raise ReadmeError("maps.png: cannot find its first row of panels")
    top, bottom = rows[1][1], rows[3][0]  # after the suptitle: the row's title, then its panels
    gaps = _runs(white[top:bottom].all(axis=0), 5)
    edges = [0, *(x for gap in gaps for x in gap), rgb.shape[1]]
    cells = [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a > 20]
    methods = _methods(root, dataset)
    if len(cells) != 3 + len(methods) or not set(PICTURE_MAPS) <= set(methods):
        raise ReadmeError(
            f"maps.png: {len(cells)} panels in its first row, params.yaml has {dataset}'s "
            f"methods {methods}: expected 3 + one per method, {', '.join(PICTURE_MAPS)} among them"
        )
    chosen = [cells[0], cells[2], *(cells[3 + methods.index(m)] for m in PICTURE_MAPS)]
    strip = np.concatenate([rgb[top:bottom, a:b] for a, b in chosen], axis=1)
    return Image.fromarray(np.ascontiguousarray(strip))


def png_bytes(image: Any) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def same_picture(path: Path, image: Any) -> bool:
    """The file shows the same pixels as ``image`` (PNG encoders may differ in bytes)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return np.array_equal(np.asarray(im.convert("RGB")), np.asarray(image))
