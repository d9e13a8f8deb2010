"""Decode one image/mask pair: RGB image, decided mask, both resized to the network's side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image

from seginterp.data.masks import MaskDecision, MaskError, decide_mask

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


def decide_mask_file(path: Path, foreground: Sequence[int] | None = None) -> MaskDecision:
    """Decode a mask file at full resolution and decide its foreground (:mod:`.masks`).

    An RGB JPEG is decoded as YCbCr (no colour conversion), so a gray JPEG mask is decided on
    its luma plane and a colour one can still be told apart. Raises :class:`MaskError`.
    """
    with Image.open(path) as im:
        if im.format == "JPEG" and im.mode == "RGB":
            im.draft("YCbCr", im.size)  # full size: only the colour conversion is skipped
        im.load()
        return decide_mask(im, foreground)


def read_mask(path: Path, foreground: Sequence[int] | None = None) -> np.ndarray:
    """A mask file decided at full resolution: (H, W) uint8 in {0, 1} (raises MaskError)."""
    return decide_mask_file(path, foreground).mask


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


class LoadedPair(NamedTuple):
    """One decoded pair at the network's side ``S``."""

    image: np.ndarray  # (S, S, 3) uint8 RGB
    mask: np.ndarray  # (S, S) uint8 in {0, 1}
    orig: tuple[int, int]  # original (height, width)
    rule: str  # the rule that decided the mask (seginterp.data.masks)
    orig_foreground: bool  # whether the mask has foreground at its original size


def load_pair(
    image_path: Path, mask_path: Path, size: int, foreground: Sequence[int] | None = None
) -> LoadedPair:
    """Decode, check and resize one pair; ``foreground``: the mask's foreground labels, if set.

    Raises :class:`PairError` naming the culprit file when either file cannot be decoded, the
    two differ in size, or the mask is refused (the reason names its values).
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
        decided = decide_mask_file(mask_path, foreground)
    except MaskError as e:
        raise PairError(mask_path, f"mask refused: {e}") from e
    except _DECODE_ERRORS as e:
        raise PairError(mask_path, f"cannot decode mask: {e}") from e
    return LoadedPair(
        resize_image(image, size),
        resize_mask(decided.mask, size),
        orig,
        decided.rule,
        bool(decided.mask.any()),
    )
