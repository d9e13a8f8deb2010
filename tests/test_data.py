"""Preprocessing on real sample files: mask binarization traps, sizes, splits, rejects, layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from seginterp.data import (
    MANIFEST_COLUMNS,
    PreprocessParams,
    assign_splits,
    binarize_mask,
    load_pair,
    load_split,
    prepare,
    read_image,
    read_manifest,
    read_mask,
    read_meta,
    read_rejects,
    resize_image,
    resize_mask,
    split_targets,
)
from seginterp.datasets import SOURCES, DatasetError
from seginterp.io import read_json
from seginterp.params import ParamsError, from_mapping

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
KVASIR = SHARED_DATA / "kvasir-seg-sample"
HAM = SHARED_DATA / "ham10000-sample"
needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"shared sample data not found at {SHARED_DATA}"
)
INVERTED = ("ISIC_0024338", "ISIC_0024367", "ISIC_0024550", "ISIC_0024669", "ISIC_0024688")


def _gray_threshold(path: Path) -> np.ndarray:
    """The reference: the gray value of the decoded file, thresholded at 128."""
    return (np.asarray(Image.open(path).convert("L")) >= 128).astype(np.uint8)


def _copy_files(src: Path, dst: Path, names: list[str] | None = None) -> None:
    """Copy files (data only: the shared samples are read-only) from ``src`` into ``dst``."""
    dst.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.iterdir()):
        if p.is_file() and (names is None or p.stem in names):
            shutil.copyfile(p, dst / p.name)


# --------------------------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------------------------


@needs_shared
def test_kvasir_masks_binarized_like_thresholded_gray() -> None:
    paths = sorted((KVASIR / "Kvasir-SEG" / "masks").glob("*.jpg"))
    assert len(paths) == 40
    for p in paths:
        m = read_mask(p)
        ref = _gray_threshold(p)
        assert m.dtype == np.uint8 and set(np.unique(m)) <= {0, 1}
        assert np.array_equal(m, ref), p.name
        assert 0.0 < m.mean() < 0.9
        raw = np.asarray(Image.open(p).convert("L"))
        assert len(np.unique(raw)) > 2  # the trap is real: JPEG noise, not two values


@needs_shared
def test_kvasir_resized_mask_is_nearest_of_the_binary_mask() -> None:
    name = sorted((KVASIR / "Kvasir-SEG" / "images").glob("*.jpg"))[1].stem
    img_p = KVASIR / "Kvasir-SEG" / "images" / f"{name}.jpg"
    msk_p = KVASIR / "Kvasir-SEG" / "masks" / f"{name}.jpg"
    image, mask, orig = load_pair(img_p, msk_p, 64)
    w, h = Image.open(img_p).size
    assert orig == (h, w)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert mask.shape == (64, 64) and set(np.unique(mask)) == {0, 1}
    ref = cv2.resize(_gray_threshold(msk_p), (64, 64), interpolation=cv2.INTER_NEAREST_EXACT)
    assert np.array_equal(mask, ref)


@needs_shared
@pytest.mark.parametrize("image_id", INVERTED)
def test_ham_inverted_palette_masks(image_id: str) -> None:
    p = HAM / "HAM10000_segmentations_lesion_tschandl" / f"{image_id}_segmentation.png"
    assert Image.open(p).mode == "P"
    m = read_mask(p)
    assert np.array_equal(m, _gray_threshold(p))
    assert 0.0 < m.mean() < 0.9
    assert m[0, 0] == m[0, -1] == m[-1, 0] == m[-1, -1] == 0  # the frame is background
    indices = np.asarray(Image.open(p))  # the trap: raw palette indices are the inverse
    assert np.array_equal(indices > 0, m == 0)
    _, mask, _ = load_pair(HAM / "HAM10000_images_part_1" / f"{image_id}.jpg", p, 32)
    assert mask[0, 0] == 0 and 0.0 < mask.mean() < 0.9


@needs_shared
def test_all_ham_masks_have_lesion_foreground() -> None:
    for p in sorted((HAM / "HAM10000_segmentations_lesion_tschandl").glob("*.png")):
        m = read_mask(p)
        assert m.shape == (450, 600)
        assert np.array_equal(m, _gray_threshold(p))
        assert 0.0 < m.mean() < 0.9, p.name


def test_binarize_modes() -> None:
    a = np.zeros((4, 5), np.uint8)
    a[1:3, 1:4] = 1
    assert np.array_equal(binarize_mask(Image.fromarray(a)), a)  # 0/1 label image (lossless)
    assert np.array_equal(binarize_mask(Image.fromarray(a * 255)), a)
    rgb = np.repeat((a * 250)[..., None], 3, axis=2)
    assert np.array_equal(binarize_mask(Image.fromarray(rgb)), a)
    pal = Image.fromarray(1 - a, mode="L").convert("P")  # index 0 = foreground colour
    pal.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    assert np.array_equal(binarize_mask(pal), a)
    assert np.array_equal(binarize_mask(Image.fromarray(a.astype(np.uint16) * 65535)), a)


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


@needs_shared
def test_big_jpeg_decoded_reduced() -> None:
    p = next(
        q
        for q in sorted((KVASIR / "Kvasir-SEG" / "images").glob("*.jpg"))
        if min(Image.open(q).size) >= 1000
    )
    w, h = Image.open(p).size
    small, orig = read_image(p, draft_size=64)
    assert orig == (h, w)
    assert small.shape[0] < h and min(small.shape[:2]) >= 64  # DCT-scaled, never below target
    full, _ = read_image(p)
    assert full.shape == (h, w, 3)


def test_resize_rules() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    assert np.array_equal(
        resize_image(img, 20), cv2.resize(img, (20, 20), interpolation=cv2.INTER_AREA)
    )
    assert np.array_equal(
        resize_image(img, 90), cv2.resize(img, (90, 90), interpolation=cv2.INTER_LINEAR)
    )
    mask = (rng.random((50, 70)) > 0.5).astype(np.uint8)
    assert set(np.unique(resize_mask(mask, 33))) == {0, 1}
    assert resize_image(img, 20).shape == (20, 20, 3)


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------


def test_split_targets() -> None:
    fr = {"train": 0.8, "val": 0.1, "test": 0.1}
    assert split_targets(fr, 200) == {"train": 160, "val": 20, "test": 20}
    assert sum(split_targets(fr, 24).values()) == 24
    assert split_targets({"train": 8, "val": 1, "test": 1}, 12) == {"train": 8, "val": 1, "test": 1}
    with pytest.raises(DatasetError, match="only 40 usable images were found"):
        split_targets({"train": 800, "val": 100, "test": 100}, 40)
    with pytest.raises(ParamsError, match="sum to 1"):
        split_targets({"train": 0.8, "val": 0.1, "test": 0.2}, 10)
    with pytest.raises(ParamsError, match="exactly the keys"):
        split_targets({"train": 0.8, "valid": 0.2}, 10)
    with pytest.raises(ParamsError, match="numbers"):
        split_targets({"train": "8", "val": 1, "test": 1}, 10)


def test_preprocess_params() -> None:
    split = {"train": 8, "val": 1, "test": 1}
    cfg = from_mapping(PreprocessParams, {"image_size": 64, "split": split, "seed": 3})
    assert cfg.image_size == 64 and cfg.split["train"] == 8
    with pytest.raises(ParamsError, match="unknown key"):
        from_mapping(PreprocessParams, {"image_size": 64, "size": 3}, "x.preprocess")
    with pytest.raises(ParamsError, match="sum to 1"):
        PreprocessParams(image_size=64, split={"train": 0.5, "val": 0.1, "test": 0.1})


def test_assign_splits_singletons_exact_and_seeded() -> None:
    groups = [f"g{i}" for i in range(100)]
    spec = {"train": 0.7, "val": 0.2, "test": 0.1}
    a = assign_splits(groups, spec, seed=0)
    assert [a.count(s) for s in ("train", "val", "test")] == [70, 20, 10]
    assert a == assign_splits(groups, spec, seed=0)
    assert a != assign_splits(groups, spec, seed=1)
    # counts summing to less than n leave the rest unused
    b = assign_splits(groups, {"train": 50, "val": 10, "test": 10}, seed=0)
    assert [b.count(s) for s in ("train", "val", "test", None)] == [50, 10, 10, 30]


def test_assign_splits_keeps_groups_together() -> None:
    rng = np.random.default_rng(0)
    groups = [f"L{j}" for j in range(300) for _ in range(int(rng.integers(1, 5)))]
    n = len(groups)
    out = assign_splits(groups, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=4)
    by_group: dict[str, set[str | None]] = {}
    for g, s in zip(groups, out, strict=True):
        by_group.setdefault(g, set()).add(s)
    assert all(len(s) == 1 for s in by_group.values())
    assert None not in out
    for split, frac in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        assert abs(out.count(split) - frac * n) <= 2  # targets met within half the largest group


# --------------------------------------------------------------------------------------------
# The prepared layout
# --------------------------------------------------------------------------------------------


def _check_layout(out: Path, size: int) -> dict:
    meta = read_meta(out)
    assert set(meta) == {"image_size", "counts", "mean_rgb", "n_found", "n_rejected"}
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
