"""Decode one image/mask pair: RGB image, binarized mask, both resized to the network's side."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

MASK_THRESHOLD = 128  # gray value at or above which a mask pixel is foreground

# What PIL raises on a file it cannot decode (UnidentifiedImageError is an OSError; a truncated
# JPEG raises OSError on load; some malformed headers raise SyntaxError / ValueError).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


class PairError(Exception):
    """A pair that cannot be used; ``file`` (the culprit) and ``reason`` go to rejects.csv."""

    def __init__(self, file: Path, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file, self.reason = Path(file), reason


def read_image(path: Path, draft_size: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode an image as RGB; returns (array (h, w, 3) uint8, original (height, width)).

    With ``draft_size`` a JPEG is decoded at the smallest power-of-two reduction that keeps both
    sides >= ``draft_size`` (libjpeg DCT scaling: much faster for big files); the array is then
    smaller than the original size returned.
    """
    with Image.open(path) as im:
        w, h = im.size
        if draft_size is not None and im.format == "JPEG":
            im.draft("RGB", (draft_size, draft_size))
        rgb = im.convert("RGB")  # decodes: raises on truncated / corrupt data
    return np.asarray(rgb), (h, w)


def binarize_mask(im: Image.Image) -> np.ndarray:
    """A decoded mask as (H, W) uint8 in {0, 1}.

    Palette images are mapped through their palette first (``convert("L")``: HAM10000 has
    inverted palettes, so raw indices would invert the mask); RGB masks use the gray value. The
    gray value is thresholded at 128 (robust to JPEG noise, e.g. Kvasir-SEG). A lossless mask
    holding only 0 and 1 is taken as it is (0/1 label images are common in users' folders).
    """
    if im.mode in ("I", "F") or im.mode.startswith("I;"):  # 16/32-bit gray
        arr = np.asarray(im)
        top = float(arr.max())
        return (arr >= (1 if top <= 1 else 128 if top <= 255 else 32768)).astype(np.uint8)
    gray = np.asarray(im.convert("L"))
    if im.format != "JPEG" and gray.max() <= 1:
        return gray.astype(np.uint8, copy=True)
    return (gray >= MASK_THRESHOLD).astype(np.uint8)


def read_mask(path: Path) -> np.ndarray:
    """Decode and binarize a mask file at full resolution: (H, W) uint8 in {0, 1}."""
    with Image.open(path) as im:
        if im.format == "JPEG" and im.mode in ("RGB", "YCbCr"):
            im.draft("L", im.size)  # decode the luma plane only, at full size
        im.load()
        return binarize_mask(im)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """(h, w, 3) uint8 -> (size, size, 3): area interpolation when shrinking, else bilinear."""
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return np.ascontiguousarray(image)
    interp = cv2.INTER_AREA if h >= size and w >= size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """(h, w) {0, 1} uint8 -> (size, size) with nearest neighbour (values stay in {0, 1})."""
    if mask.shape == (size, size):
        return np.ascontiguousarray(mask)
    return cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST_EXACT)


def load_pair(
    image_path: Path, mask_path: Path, size: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Decode, check and resize one pair: (image (S, S, 3), mask (S, S), original (h, w)).

    Raises :class:`PairError` naming the culprit file when either file cannot be decoded or
    the two differ in size.
    """
    try:
        with Image.open(mask_path) as m:
            mw, mh = m.size
    except _DECODE_ERRORS as e:
        raise PairError(mask_path, f"cannot read mask: {e}") from e
    try:
        with Image.open(image_path) as im:
            iw, ih = im.size
    except _DECODE_ERRORS as e:
        raise PairError(image_path, f"cannot read image: {e}") from e
    if (ih, iw) != (mh, mw):
        raise PairError(
            image_path, f"image is {iw}x{ih} but its mask {mask_path.name} is {mw}x{mh} (WxH)"
        )
    try:
        image, orig = read_image(image_path, draft_size=size)
    except _DECODE_ERRORS as e:
        raise PairError(image_path, f"cannot decode image: {e}") from e
    try:
        mask = read_mask(mask_path)
    except _DECODE_ERRORS as e:
        raise PairError(mask_path, f"cannot decode mask: {e}") from e
    return resize_image(image, size), resize_mask(mask, size), orig
