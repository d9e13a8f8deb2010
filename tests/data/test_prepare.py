"""The preprocess step on real sample files: sizes, splits, rejects and the prepared layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from support import SHARED_DATA

from seginterp.core.io import read_json
from seginterp.core.params import ParamsError, from_mapping
from seginterp.data.prepare import PreprocessParams, prepare
from seginterp.data.prepared import MANIFEST_COLUMNS, load_split, read_manifest
from seginterp.data.sources.registry import SOURCES, DatasetError

KVASIR = SHARED_DATA / "kvasir-seg-sample"
HAM = SHARED_DATA / "ham10000-sample"
needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"shared sample data not found at {SHARED_DATA}"
)
INVERTED = ("ISIC_0024338", "ISIC_0024367", "ISIC_0024550", "ISIC_0024669", "ISIC_0024688")


def read_meta(prepared_dir: Path) -> dict:
    """meta.json of a prepared directory."""
    return read_json(prepared_dir / "meta.json")


def read_rejects(path: Path) -> pd.DataFrame:
    """rejects.csv as a DataFrame (file, reason)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _copy_files(src: Path, dst: Path, names: list[str] | None = None) -> None:
    """Copy files (data only: the shared samples are read-only) from ``src`` into ``dst``."""
    dst.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.iterdir()):
        if p.is_file() and (names is None or p.stem in names):
            shutil.copyfile(p, dst / p.name)


def test_preprocess_params() -> None:
    split = {"train": 8, "val": 1, "test": 1}
    cfg = from_mapping(PreprocessParams, {"image_size": 64, "split": split, "seed": 3})
    assert cfg.image_size == 64 and cfg.split["train"] == 8
    with pytest.raises(ParamsError, match="unknown key"):
        from_mapping(PreprocessParams, {"image_size": 64, "size": 3}, "x.preprocess")
    with pytest.raises(ParamsError, match="sum to 1"):
        PreprocessParams(image_size=64, split={"train": 0.5, "val": 0.1, "test": 0.1})


def _check_layout(out: Path, size: int) -> dict:
    meta = read_meta(out)
    assert set(meta) == {
        "image_size",
        "counts",
        "mean_rgb",
        "n_found",
        "n_rejected",
        "n_empty_masks",
        "n_full_masks",
        "n_emptied_by_resize",
        "mask_rules",
    }
    assert sum(meta["mask_rules"].values()) == sum(meta["counts"].values())
    assert meta["image_size"] == size
    manifest = read_manifest(out)
    assert list(manifest.columns) == list(MANIFEST_COLUMNS)
    for split in ("train", "val", "test"):
        x, y, ids = load_split(out, split)
        n = meta["counts"][split]
        assert x.shape == (n, size, size, 3) and x.dtype == np.uint8
        assert y.shape == (n, size, size) and y.dtype == np.uint8
        assert isinstance(x, np.memmap)
        assert set(np.unique(y)) <= {0, 1}
        rows = manifest[manifest["split"] == split]
        assert rows["index"].tolist() == list(range(n))
        assert ids == rows["id"].tolist()
    assert all(0.0 <= v <= 1.0 for v in meta["mean_rgb"]) and len(meta["mean_rgb"]) == 3
    x, _, _ = load_split(out, "train", mmap=False)
    assert np.allclose(meta["mean_rgb"], x.reshape(-1, 3).mean(0) / 255.0)
    return meta


@needs_shared
def test_prepare_kvasir_sample(tmp_path: Path) -> None:
    src = SOURCES.get("kvasir-seg")
    cfg = PreprocessParams(image_size=48, split={"train": 30, "val": 5, "test": 5}, seed=0)
    meta = prepare(KVASIR, tmp_path, src.scan, None, cfg)
    assert meta["counts"] == {"train": 30, "val": 5, "test": 5}
    assert meta["n_found"] == 40 and meta["n_rejected"] == 0
    _check_layout(tmp_path, 48)
    m = read_manifest(tmp_path)
    row = m.iloc[0]
    assert row["image_path"] == f"Kvasir-SEG/images/{row['id']}.jpg"
    assert row["mask_path"] == f"Kvasir-SEG/masks/{row['id']}.jpg"
    w, h = Image.open(KVASIR / row["image_path"]).size
    assert (row["orig_height"], row["orig_width"]) == (h, w)
    assert (m["group"] == m["id"]).all()
    assert read_rejects(tmp_path / "rejects.csv").empty
    assert (tmp_path / "rejects.csv").read_text().splitlines() == ["file,reason"]


@needs_shared
def test_prepare_too_few_images_says_how_many(tmp_path: Path) -> None:
    cfg = PreprocessParams(image_size=32, split={"train": 800, "val": 100, "test": 100})
    with pytest.raises(DatasetError, match="only 40 usable images were found"):
        prepare(KVASIR, tmp_path, SOURCES.get("kvasir-seg").scan, None, cfg)


@needs_shared
def test_prepare_ham_sample_groups_stay_together(tmp_path: Path) -> None:
    cfg = PreprocessParams(image_size=40, split={"train": 0.6, "val": 0.2, "test": 0.2}, seed=0)
    meta = prepare(HAM, tmp_path, SOURCES.get("ham10000").scan, None, cfg)
    assert meta["n_found"] == 30 and sum(meta["counts"].values()) == 30
    _check_layout(tmp_path, 40)
    m = read_manifest(tmp_path).set_index("id")
    for a, b, lesion in (
        ("ISIC_0027250", "ISIC_0025309", "HAM_0003937"),
        ("ISIC_0026352", "ISIC_0024688", "HAM_0001444"),
    ):
        assert m.loc[a, "split"] == m.loc[b, "split"]
        assert m.loc[a, "group"] == m.loc[b, "group"] == lesion
    assert (m["orig_height"] == 450).all() and (m["orig_width"] == 600).all()
    for image_id in INVERTED:  # the inverted palette masks come out right after preprocessing
        split, index = m.loc[image_id, ["split", "index"]]
        _, y, _ = load_split(tmp_path, split)
        assert y[index, 0, 0] == 0 and 0.0 < y[index].mean() < 0.9


@needs_shared
def test_planted_bad_files_are_rejected_with_reasons(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    root = raw / "Kvasir-SEG"
    stems = sorted(p.stem for p in (KVASIR / "Kvasir-SEG" / "images").glob("*.jpg"))[:10]
    _copy_files(KVASIR / "Kvasir-SEG" / "images", root / "images", stems)
    _copy_files(KVASIR / "Kvasir-SEG" / "masks", root / "masks", stems)
    imgs, msks = root / "images", root / "masks"
    # a truncated JPEG (with its mask)
    data = (imgs / f"{stems[0]}.jpg").read_bytes()
    (imgs / f"{stems[0]}.jpg").write_bytes(data[: len(data) // 2])
    # an image without mask, and a mask without image
    (msks / f"{stems[1]}.jpg").unlink()
    (imgs / f"{stems[2]}.jpg").unlink()
    # a size mismatch
    m = Image.open(msks / f"{stems[3]}.jpg")
    m.resize((m.width // 2, m.height // 2)).save(msks / f"{stems[3]}.jpg")
    # a text file named .jpg (with a mask)
    (imgs / "notes.jpg").write_text("this is not an image\n")
    shutil.copyfile(msks / f"{stems[4]}.jpg", msks / "notes.jpg")

    found = len({p.stem for p in imgs.iterdir()} | {p.stem for p in msks.iterdir()})
    cfg = PreprocessParams(image_size=32, split={"train": 0.6, "val": 0.2, "test": 0.2})
    out = tmp_path / "prepared"
    meta = prepare(raw, out, SOURCES.get("kvasir-seg").scan, None, cfg)

    rejects = read_rejects(out / "rejects.csv")
    reasons = dict(zip(rejects["file"], rejects["reason"], strict=True))
    assert len(reasons) == 5
    assert "truncated" in reasons[f"Kvasir-SEG/images/{stems[0]}.jpg"]
    assert "no mask" in reasons[f"Kvasir-SEG/images/{stems[1]}.jpg"]
    assert "no image" in reasons[f"Kvasir-SEG/masks/{stems[2]}.jpg"]
    assert "but its mask" in reasons[f"Kvasir-SEG/images/{stems[3]}.jpg"]
    assert "cannot read image" in reasons["Kvasir-SEG/images/notes.jpg"]
    accepted = sum(meta["counts"].values())
    assert accepted == 6
    assert accepted + meta["n_rejected"] == found == meta["n_found"] == 11
    manifest = read_manifest(out)
    assert not set(manifest["id"]) & {stems[0], stems[1], stems[2], stems[3], "notes"}
    _check_layout(out, 32)


def test_prepare_nothing_found_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    cfg = PreprocessParams(image_size=32)
    with pytest.raises(DatasetError, match="no image/mask pairs found"):
        prepare(tmp_path, tmp_path / "out", SOURCES.get("folder").scan, None, cfg)


def test_prepare_synthetic_and_meta_json(tmp_path: Path) -> None:
    src = SOURCES.get("synthetic")
    raw = tmp_path / "raw"
    src.download(src.parse({"source": "synthetic", "n_images": 30, "size": 40, "seed": 1}), raw)
    cfg = PreprocessParams(image_size=32, split={"train": 0.8, "val": 0.1, "test": 0.1}, seed=2)
    prepare(raw, tmp_path / "a", src.scan, None, cfg)
    prepare(raw, tmp_path / "b", src.scan, None, cfg)
    meta = _check_layout(tmp_path / "a", 32)
    assert meta["counts"] == {"train": 24, "val": 3, "test": 3}
    assert read_json(tmp_path / "a" / "meta.json") == read_json(tmp_path / "b" / "meta.json")
    pd.testing.assert_frame_equal(read_manifest(tmp_path / "a"), read_manifest(tmp_path / "b"))
    for name in ("train_images.npy", "test_masks.npy"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        load_split(tmp_path / "a", "valid")
