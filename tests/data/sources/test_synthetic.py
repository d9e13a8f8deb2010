"""The synthetic source: seeded bytes, empty masks, lesions cut by the edge, quick generation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seginterp.core.params import ParamsError
from seginterp.data.sources.registry import SOURCES
from seginterp.data.sources.synthetic import SyntheticParams, download, generate_pair, scan


def _files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*.png"))}


@pytest.fixture(scope="module")
def set200(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 images at 96 px, seed 0 (the default params)."""
    out = tmp_path_factory.mktemp("synthetic200")
    download(SyntheticParams(n_images=200, size=96, seed=0), out)
    return out


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    download(SyntheticParams(n_images=12, size=48, seed=3), a)
    download(SyntheticParams(n_images=12, size=48, seed=3), b)
    fa, fb = _files(a), _files(b)
    assert len(fa) == 24
    assert fa == fb


def test_different_seed_differs(tmp_path: Path) -> None:
    download(SyntheticParams(n_images=4, size=48, seed=0), tmp_path / "a")
    download(SyntheticParams(n_images=4, size=48, seed=1), tmp_path / "b")
    fa, fb = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert fa.keys() == fb.keys()
    assert all(fa[k] != fb[k] for k in fa if k.startswith("images/"))


def test_image_i_does_not_depend_on_n_images() -> None:
    img, mask = generate_pair(7, 2, 40)
    img2, mask2 = generate_pair(7, 2, 40)
    assert np.array_equal(img, img2) and np.array_equal(mask, mask2)
    assert img.shape == (40, 40, 3) and img.dtype == np.uint8
    assert mask.shape == (40, 40) and set(np.unique(mask)) <= {0, 1}


def test_files_and_masks(set200: Path) -> None:
    pairs, rejects = scan(set200)
    assert len(pairs) == 200 and rejects == []
    img = Image.open(pairs[0].image_path)
    msk = Image.open(pairs[0].mask_path)
    assert (img.mode, img.size) == ("RGB", (96, 96))
    assert (msk.mode, msk.size) == ("L", (96, 96))
    masks = np.stack([np.asarray(Image.open(p.mask_path)) for p in pairs])
    assert set(np.unique(masks)) <= {0, 255}
    fg = (masks > 0).reshape(200, -1).mean(axis=1)
    n_empty = int((fg == 0).sum())
    assert 2 <= n_empty <= 25  # about 5%
    edge = (masks[:, 0] > 0).any(1) | (masks[:, -1] > 0).any(1)
    edge |= (masks[:, :, 0] > 0).any(1) | (masks[:, :, -1] > 0).any(1)
    assert 10 <= int(edge.sum()) <= 150  # some lesions are cut by the image edge
    nonempty = fg[fg > 0]
    assert nonempty.min() < 0.05 and nonempty.max() > 0.15  # varied sizes
    assert float(np.median(nonempty)) < 0.5  # lesions are not the whole image


def test_lesion_is_distinct_but_not_trivial(set200: Path) -> None:
    """Lesions are clearly darker, yet no single brightness threshold segments the set well."""
    pairs, _ = scan(set200)
    gray = np.stack([np.asarray(Image.open(p.image_path), dtype=np.float64).mean(2) for p in pairs])
    masks = np.stack([np.asarray(Image.open(p.mask_path)) > 0 for p in pairs])
    gaps = [g[~m].mean() - g[m].mean() for g, m in zip(gray, masks, strict=True) if m.sum() > 20]
    assert np.median(gaps) > 15
    best_iou = 0.0
    for t in np.linspace(gray.min(), gray.max(), 100):
        pred = gray < t
        best_iou = max(best_iou, (pred & masks).sum() / max((pred | masks).sum(), 1))
    assert 0.3 < best_iou < 0.85


def test_registered_and_params() -> None:
    src = SOURCES.get("synthetic")
    cfg = src.parse({"source": "synthetic", "n_images": 5, "size": 32, "seed": 1})
    assert cfg == SyntheticParams(n_images=5, size=32, seed=1)
    with pytest.raises(ParamsError, match="n_images"):
        src.parse({"source": "synthetic", "n_images": 0})
    with pytest.raises(ParamsError, match="valid keys: source, n_images, size, seed"):
        src.parse({"source": "synthetic", "n_image": 5})
