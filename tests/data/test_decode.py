"""Decoding real sample files: mask binarization traps, JPEG draft decoding, resizing rules."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from support import SHARED_DATA

from seginterp.data.decode import (
    load_pair,
    read_image,
    read_mask,
    resize_image,
    resize_mask,
)
from seginterp.data.masks import decide_mask

KVASIR = SHARED_DATA / "kvasir-seg-sample"
HAM = SHARED_DATA / "ham10000-sample"
needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"shared sample data not found at {SHARED_DATA}"
)
INVERTED = ("ISIC_0024338", "ISIC_0024367", "ISIC_0024550", "ISIC_0024669", "ISIC_0024688")


def _gray_threshold(path: Path) -> np.ndarray:
    """The reference: the gray value of the decoded file, thresholded at 128."""
    return (np.asarray(Image.open(path).convert("L")) >= 128).astype(np.uint8)


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
    image, mask, orig, rule, _ = load_pair(img_p, msk_p, 64)
    assert rule == "two clusters"  # JPEG noise around 0 and 255
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
    got = load_pair(HAM / "HAM10000_images_part_1" / f"{image_id}.jpg", p, 32)
    assert got.mask[0, 0] == 0 and 0.0 < got.mask.mean() < 0.9 and got.rule == "two values"


@needs_shared
def test_all_ham_masks_have_lesion_foreground() -> None:
    for p in sorted((HAM / "HAM10000_segmentations_lesion_tschandl").glob("*.png")):
        m = read_mask(p)
        assert m.shape == (450, 600)
        assert np.array_equal(m, _gray_threshold(p))
        assert 0.0 < m.mean() < 0.9, p.name


def test_decide_image_modes() -> None:
    a = np.zeros((4, 5), np.uint8)
    a[1:3, 1:4] = 1

    def decided(im: Image.Image) -> np.ndarray:
        return decide_mask(im).mask

    assert np.array_equal(decided(Image.fromarray(a)), a)  # 0/1 label image (lossless)
    assert np.array_equal(decided(Image.fromarray(a * 255)), a)
    rgb = np.repeat((a * 250)[..., None], 3, axis=2)
    assert np.array_equal(decided(Image.fromarray(rgb)), a)
    pal = Image.fromarray(1 - a, mode="L").convert("P")  # index 0 = foreground colour
    pal.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    assert np.array_equal(decided(pal), a)
    assert np.array_equal(decided(Image.fromarray(a.astype(np.uint16) * 65535)), a)
    assert np.array_equal(decided(Image.fromarray(a.astype(np.float32))), a)
    assert np.array_equal(decided(Image.fromarray(a * 255).convert("1")), a)


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
