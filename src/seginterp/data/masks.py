"""Decide which pixels of a ground-truth mask are foreground, from the mask's value histogram.

Every mask is decided by exactly one rule below, or refused with a reason that names its values
(a :class:`MaskError`, which becomes a line of rejects.csv): a mask is never silently emptied.
The rule's name is counted in meta.json (``mask_rules``).

The values decided on: the gray value of a gray mask (8/16-bit, float, or RGB with R = G = B;
JPEG masks are decoded as YCbCr and their luma is used when the chroma is flat), ``max(R, G, B)``
of a colour mask. A palette mask has its palette applied first (HAM10000's inverted palettes,
index 0 = white, come out right), unless ``mask_foreground`` is set: then its indices are the
labels. An alpha channel is dropped when constant, is the mask when the colour is constant, else
the colour is composited over black. "Lossy" means JPEG, WebP or JPEG 2000 (noisy values);
everything else is exact.

==================  ==============================================================================
rule                foreground
==================  ==============================================================================
labels              ``mask_foreground`` is set: the pixels whose value (palette: index) is listed
one value           a constant mask: none when the value is 0 (empty), else all (full)
two values          the higher value: 0/255, 0/1, a black/red palette, an inverted palette
soft edges          exact mask, > 2 values, two clusters (Otsu separability >= 0.9) whose
                    in-between values lie on edges (at most 10% of those pixels have all 8
                    neighbours equal to them): value >= midpoint of the two levels
two clusters        lossy mask, > 2 values, two clusters (Otsu separability >= 0.9), e.g. JPEG
                    noise around 0/255 (Kvasir-SEG: 1-8, 247-254) or 0/1 (0-2): value >=
                    midpoint of the two levels
colour on black     a colour mask with one hue on a black background (red, blue on black, JPEG
                    noise included): ``max(R, G, B)`` decided by the rules above
==================  ==============================================================================

The two levels are the most frequent value on each side of Otsu's threshold, so the midpoint of
0/255 is 127.5 (a value >= 128 is foreground) and that of 0/1 is 0.5.

Refused: a palette mask using more than two indices, an exact mask with > 2 values that are not
two clusters with soft edges (a label map: set ``preprocess.mask_foreground``), lossy values that
do not form two clusters, a colour mask with several hues (>= 1% of the foreground each) or
without a black background, and a colour mask when ``mask_foreground`` is set.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

import cv2
import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

LOSSY_FORMATS = frozenset({"JPEG", "MPO", "WEBP", "JPEG2000"})
MIN_SEPARABILITY = 0.9  # Otsu's between-class / total variance of a two-cluster mask
MAX_FLAT_SHARE = 0.1  # in-between pixels of an exact mask allowed to sit on a flat 3x3 patch
GRAY_TOLERANCE = 24  # channel spread (RGB) or chroma offset (YCbCr) of a lossy gray mask
MAX_BLACK = 63  # median max(R, G, B) of a colour mask's background, at most
MIN_HUE_SHARE = 0.01  # share of the foreground from which a second hue makes a colour ambiguous
_HINT = "set preprocess.mask_foreground to the foreground labels"


class MaskError(ValueError):
    """A mask that no rule decides; the message is the reason written to rejects.csv."""


class MaskDecision(NamedTuple):
    """A decided mask: (H, W) uint8 in {0, 1} and the name of the rule that decided it."""

    mask: np.ndarray
    rule: str


def describe(values: np.ndarray, counts: np.ndarray, limit: int = 6) -> str:
    """``"0 (10435 px), 1 (1263 px), ..."``: the values of a histogram, for a reject reason."""
    items = [f"{_fmt(v)} ({c} px)" for v, c in zip(values[:limit], counts[:limit], strict=True)]
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return ", ".join(items) + more


def _fmt(v: object) -> str:
    return f"{v:g}" if isinstance(v, float | np.floating) else str(v)


def histogram(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values ascending, pixel counts) of a (H, W) array."""
    if v.dtype == np.uint8 and v.size < 2**24:  # OpenCV's float32 counts are exact below 2^24
        counts = cv2.calcHist([np.ascontiguousarray(v)], [0], None, [256], [0, 256])
        counts = counts.ravel().astype(np.int64)
    elif v.dtype in (np.uint8, np.uint16):
        counts = np.bincount(v.ravel(), minlength=1)
    else:
        return np.unique(v, return_counts=True)
    values = np.flatnonzero(counts)
    return values.astype(v.dtype), counts[values]


def otsu(values: np.ndarray, counts: np.ndarray) -> tuple[int, float]:
    """(split, separability): classes ``values[:split]`` / ``values[split:]`` maximise the
    between-class variance; separability = between-class / total variance (1 = two values)."""
    w = counts / counts.sum()
    x = values.astype(np.float64)
    w0 = np.cumsum(w)[:-1]
    mu0 = np.cumsum(w * x)[:-1]
    mu = float(np.sum(w * x))
    between = (mu * w0 - mu0) ** 2 / (w0 * (1.0 - w0))
    s = int(np.argmax(between))
    total = float(np.sum(w * (x - mu) ** 2))
    return s + 1, float(between[s] / total) if total > 0 else 0.0


def _flat_share(v: np.ndarray, inbetween: np.ndarray) -> float:
    """Share of the in-between pixels whose 3x3 neighbourhood holds only their own value."""
    a = v if v.dtype in (np.uint8, np.uint16, np.float32) else v.astype(np.float64)
    k = np.ones((3, 3), np.uint8)
    flat = (cv2.erode(a, k) == a) & (cv2.dilate(a, k) == a) & inbetween
    return float(flat.sum() / max(1, int(inbetween.sum())))


def decide_values(v: np.ndarray, lossy: bool) -> MaskDecision:
    """Decide a (H, W) array of gray values (rules one value, two values, soft edges, two
    clusters); raise :class:`MaskError` naming the values when it is a label map."""
    values, counts = histogram(v)
    if len(values) == 1:
        fill = np.zeros if values[0] == 0 else np.ones
        return MaskDecision(fill(v.shape, dtype=np.uint8), "one value")
    if len(values) == 2:
        return MaskDecision((v == values[1]).astype(np.uint8), "two values")
    split, separability = otsu(values, counts)
    lo = values[int(np.argmax(counts[:split]))]
    hi = values[split + int(np.argmax(counts[split:]))]
    desc = f"{len(values)} values ({describe(values, counts)})"
    if separability < MIN_SEPARABILITY:
        what = "do not form two clusters" if lossy else "a label map"
        raise MaskError(f"{desc}: {what} (separability {separability:.2f}); {_HINT}")
    if not lossy:
        share = _flat_share(v, (v != lo) & (v != hi))
        if share > MAX_FLAT_SHARE:
            raise MaskError(
                f"{desc}: a label map ({share:.0%} of the in-between pixels form regions); {_HINT}"
            )
    return MaskDecision(_at_least_midpoint(v, lo, hi), "two clusters" if lossy else "soft edges")


def _at_least_midpoint(v: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
    """(H, W) uint8: 1 where ``v >= (lo + hi) / 2`` (integers compared exactly)."""
    if np.issubdtype(v.dtype, np.integer):
        return (v >= -(-(int(lo) + int(hi)) // 2)).astype(np.uint8)  # ceil of the midpoint
    return (2 * v.astype(np.float64) >= float(lo) + float(hi)).astype(np.uint8)


def decide_labels(v: np.ndarray, foreground: Sequence[int]) -> MaskDecision:
    """Foreground = the pixels whose value is one of ``foreground`` (rule labels)."""
    return MaskDecision(np.isin(v, np.asarray(foreground)).astype(np.uint8), "labels")


def _hues(rgb: np.ndarray, fg: np.ndarray) -> list[tuple[tuple[int, ...], float]]:
    """The hues of the foreground pixels: (mean colour, share of the foreground), >= 1% each.

    A pixel's hue is which channels reach half of its brightest channel (red, yellow, ...)."""
    px = rgb[fg.astype(bool)].astype(np.int32)
    code = ((2 * px >= px.max(axis=1, keepdims=True)) * np.array([4, 2, 1])).sum(axis=1)
    out = []
    for c, n in zip(*np.unique(code, return_counts=True), strict=True):
        if n >= MIN_HUE_SHARE * len(px):
            mean = tuple(int(x) for x in np.rint(px[code == c].mean(axis=0)))
            out.append((mean, n / len(px)))
    return out


def decide_colour(rgb: np.ndarray, lossy: bool) -> MaskDecision:
    """Decide a (H, W, 3) colour mask: one hue on black (rule colour on black) or refuse."""
    bright = rgb.max(axis=2)
    mask = decide_values(bright, lossy).mask
    background = bright[mask == 0]
    if background.size == 0 or np.median(background) > MAX_BLACK:
        raise MaskError(
            "colour mask without a black background: which colour is foreground is "
            "ambiguous; save it as a gray 0/255 mask"
        )
    hues = _hues(rgb, mask)
    if len(hues) > 1:
        listed = ", ".join(f"{c} {s:.0%}" for c, s in hues)
        raise MaskError(
            f"colour mask with {len(hues)} foreground colours ({listed}): which is foreground "
            f"is ambiguous; save it as a gray or palette label map and {_HINT}"
        )
    return MaskDecision(mask, "colour on black")


def _drop_alpha(a: np.ndarray) -> np.ndarray:
    """(H, W, C+1) with alpha last -> (H, W, C) or (H, W): see the module docstring."""
    colour, alpha = a[..., :-1], a[..., -1]
    if alpha.min() == alpha.max():
        return colour
    if all(colour[..., i].min() == colour[..., i].max() for i in range(colour.shape[-1])):
        return alpha
    out = np.rint(colour.astype(np.float64) * (alpha[..., None] / 255.0)).astype(np.uint8)
    return out


def _pixels(im: Image.Image, lossy: bool) -> np.ndarray:
    """The values decided on: (H, W) gray, or (H, W, 3) uint8 RGB when the mask has colour."""
    if im.mode == "YCbCr":  # a JPEG decoded without colour conversion
        chroma = [im.getchannel(c).getextrema() for c in (1, 2)]
        if all(abs(int(x) - 128) <= GRAY_TOLERANCE for ext in chroma for x in ext):
            return np.asarray(im.getchannel(0))  # the luma plane: a gray mask
        return np.asarray(im.convert("RGB"))
    if im.mode in ("I", "F") or im.mode.startswith("I;"):
        return np.asarray(im)
    if im.mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
    a = np.asarray(im)
    if im.mode in ("LA", "RGBA"):
        a = _drop_alpha(a)
    if a.ndim == 3:
        spread = a.max(axis=2).astype(np.int16) - a.min(axis=2)
        if spread.max() <= (GRAY_TOLERANCE if lossy else 0):
            return np.asarray(Image.fromarray(a).convert("L"))
    return a


def _palette(im: Image.Image, foreground: Sequence[int] | None) -> MaskDecision | Image.Image:
    """A palette mask: decided by its indices (labels), refused, or its palette applied."""
    indices = np.asarray(im.getchannel(0))
    if foreground:
        return decide_labels(indices, foreground)
    values, counts = histogram(indices)
    if len(values) > 2:
        colours = im.getpalette() or []
        listed = ", ".join(
            f"{int(i)} {tuple(colours[3 * int(i) : 3 * int(i) + 3])} ({c} px)"
            for i, c in zip(values[:6], counts[:6], strict=True)
        )
        raise MaskError(
            f"palette mask using {len(values)} indices ({listed}): a label map; "
            "set preprocess.mask_foreground to the foreground indices"
        )
    return im.convert("RGBA" if "transparency" in im.info or im.mode == "PA" else "RGB")


def decide_mask(im: Image.Image, foreground: Sequence[int] | None = None) -> MaskDecision:
    """Decide a loaded mask image (rules in the module docstring).

    ``foreground``: the label values (palette indices) that are foreground; None = decide from
    the histogram. Raises :class:`MaskError` with the reason when the mask is refused.
    """
    lossy = (im.format or "") in LOSSY_FORMATS
    if im.mode in ("P", "PA"):
        decided = _palette(im, foreground)
        if isinstance(decided, MaskDecision):
            return decided
        im, lossy = decided, False
    v = _pixels(im, lossy)
    if v.ndim == 3:
        if foreground:
            raise MaskError(
                "colour mask, but preprocess.mask_foreground lists label values: save the "
                "labels as a gray or palette image"
            )
        return decide_colour(v, lossy)
    if foreground:
        return decide_labels(v, foreground)
    return decide_values(v, lossy)


def count_masks(
    masks: np.ndarray,
    orig_foreground: np.ndarray,
    rules: Sequence[str],
    ids: Sequence[str],
    splits: Sequence[str],
) -> dict[str, Any]:
    """meta.json's mask counts of decided, resized masks (N, S, S); empty / full ones are logged.

    n_empty_masks / n_full_masks: masks with no foreground / no background pixel;
    n_emptied_by_resize: empty masks that had foreground at their original size
    (``orig_foreground``); mask_rules: how many masks each rule decided.
    """
    n, size = len(masks), masks.shape[-1] if masks.ndim == 3 else 0
    fg_px = masks.reshape(n, -1).sum(axis=1, dtype=np.int64)
    empty = np.flatnonzero(fg_px == 0)
    full = np.flatnonzero(fg_px == size * size)
    resized_away = empty[np.asarray(orig_foreground, dtype=bool)[empty]]
    for what, rows in (("empty (no foreground)", empty), ("full (no background)", full)):
        if rows.size:
            per_split = Counter(splits[i] for i in rows)
            log.warning(
                "%d of the %d masks are %s at %d px (%s; kept, not rejected): %s",
                rows.size,
                n,
                what,
                size,
                ", ".join(f"{s} {k}" for s, k in sorted(per_split.items())),
                _ids(ids, rows),
            )
    if resized_away.size:
        log.warning(
            "%d mask(s) lost all their foreground when resized to %d px (a larger "
            "preprocess.image_size keeps it): %s",
            resized_away.size,
            size,
            _ids(ids, resized_away),
        )
    return {
        "n_empty_masks": int(empty.size),
        "n_full_masks": int(full.size),
        "n_emptied_by_resize": int(resized_away.size),
        "mask_rules": dict(sorted(Counter(rules).items())),
    }


def _ids(ids: Sequence[str], rows: np.ndarray, limit: int = 10) -> str:
    names = sorted(ids[i] for i in rows)
    return ", ".join(names[:limit]) + (" ..." if len(names) > limit else "")
