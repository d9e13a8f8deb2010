"""Every kind of mask file decided (or refused with its values), never silently emptied.

Each test writes a real file (PIL or OpenCV: PNG, JPEG, TIFF, BMP) beside a matching image and
goes through :func:`seginterp.data.decode.load_pair`, the function the preprocess stage calls;
the masks are square and loaded at their own side, so nothing is resized.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from seginterp.core.io import read_json
from seginterp.core.params import ParamsError, from_mapping
from seginterp.data.decode import PairError, load_pair
from seginterp.data.prepare import PreprocessParams, prepare
from seginterp.data.sources.registry import SOURCES

S = 64  # side of every test mask


def lesion() -> np.ndarray:
    """A (S, S) {0, 1} irregular blob covering about a fifth of the image."""
    yy, xx = np.mgrid[:S, :S]
    r = 15 * (1 + 0.15 * np.sin(5 * np.arctan2(yy - 28, xx - 30)))
    return (np.hypot(yy - 28, xx - 30) < r).astype(np.uint8)


def label_map() -> np.ndarray:
    """A label map {0, 1, 2}: the lesion (1) and a second region (2)."""
    lab = lesion()
    lab[48:62, 44:62] = 2
    return lab


def write(path: Path, arr: np.ndarray, writer: str = "pil", **kw: object) -> Path:
    """Write ``arr`` (RGB channel order) with PIL (mode from the array) or OpenCV."""
    if writer == "cv2":
        bgr = np.ascontiguousarray(arr[..., ::-1]) if arr.ndim == 3 else arr
        assert cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, int(kw.get("quality", 95))])
    else:
        Image.fromarray(arr).save(path, **kw)
    return path


def rgb(mask: np.ndarray, colour: Sequence[int], background: Sequence[int] = (0, 0, 0)):
    """(S, S, 3) uint8: ``colour`` where ``mask`` is set, ``background`` elsewhere."""
    out = np.empty((*mask.shape, 3), np.uint8)
    out[...] = background
    out[mask.astype(bool)] = colour
    return out


def decide(mask_path: Path, foreground: Sequence[int] | None = None) -> tuple[np.ndarray, str]:
    """(mask (S, S) {0, 1}, rule) through ``load_pair`` with a matching image."""
    image = mask_path.with_name("image.png")
    Image.fromarray(np.full((S, S, 3), 128, np.uint8)).save(image)
    got = load_pair(image, mask_path, S, foreground)
    assert got.mask.dtype == np.uint8 and set(np.unique(got.mask)) <= {0, 1}
    return got.mask, got.rule


def refused(mask_path: Path, foreground: Sequence[int] | None = None) -> str:
    """The reject reason of a refused mask (the culprit named is the mask file)."""
    image = mask_path.with_name("image.png")
    Image.fromarray(np.full((S, S, 3), 128, np.uint8)).save(image)
    with pytest.raises(PairError) as ei:
        load_pair(image, mask_path, S, foreground)
    assert ei.value.file == mask_path
    return ei.value.reason


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


# ------------------------------------------------------------------------------------------------
# binary 0/255
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "writer"),
    [("m.png", "pil"), ("m.png", "cv2"), ("m.bmp", "pil"), ("m.tif", "pil")],
)
def test_binary_0_255_lossless(tmp_path: Path, name: str, writer: str) -> None:
    m = lesion()
    got, rule = decide(write(tmp_path / name, m * 255, writer))
    assert np.array_equal(got, m) and rule == "two values"


@pytest.mark.parametrize("writer", ["pil", "cv2"])
@pytest.mark.parametrize("quality", [95, 75, 50])
def test_binary_0_255_jpeg_noise(tmp_path: Path, writer: str, quality: int) -> None:
    """RGB JPEG with R = G = B, as Kvasir-SEG's masks: noisy values near 0 and 255."""
    m = lesion()
    path = write(tmp_path / "m.jpg", rgb(m, (255, 255, 255)), writer, quality=quality)
    gray = np.asarray(Image.open(path).convert("L"))
    assert len(np.unique(gray)) > 2  # the noise is real
    got, rule = decide(path)
    assert rule == "two clusters"
    assert np.array_equal(got, (gray >= 128).astype(np.uint8))  # Kvasir-SEG's decision kept
    assert iou(got, m) > 0.97


def test_soft_edged_png(tmp_path: Path) -> None:
    """A 0/255 mask downsampled with area interpolation: in-between values on the edges only."""
    big = cv2.resize(lesion() * 255, (4 * S, 4 * S), interpolation=cv2.INTER_NEAREST)
    soft = cv2.resize(big, (S, S), interpolation=cv2.INTER_AREA)
    soft = cv2.GaussianBlur(soft, (3, 3), 0)
    assert len(np.unique(soft)) > 10
    got, rule = decide(write(tmp_path / "m.png", soft))
    assert rule == "soft edges"
    assert np.array_equal(got, (soft >= 128).astype(np.uint8))


# ------------------------------------------------------------------------------------------------
# 0/1 in any encoding
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [("m.png", "L"), ("m.png", "I;16"), ("m.png", "RGB"), ("m.tif", "L"), ("m.bmp", "L")],
)
def test_zero_one_lossless(tmp_path: Path, name: str, kind: str) -> None:
    m = lesion()
    arr = {"L": m, "I;16": m.astype(np.uint16), "RGB": rgb(m, (1, 1, 1))}[kind]
    path = write(tmp_path / name, arr)
    got, rule = decide(path)
    assert np.array_equal(got, m) and rule == "two values"


@pytest.mark.parametrize("writer", ["pil", "cv2"])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(("quality", "rule"), [(95, "two clusters"), (90, "two values")])
def test_zero_one_jpeg_is_not_emptied(
    tmp_path: Path, writer: str, channels: int, quality: int, rule: str
) -> None:
    """A 0/1 mask saved as JPEG (noise: 0..2) was thresholded at 128: an empty mask."""
    m = lesion()
    arr = m if channels == 1 else rgb(m, (1, 1, 1))
    path = write(tmp_path / "m.jpg", arr, writer, quality=quality)
    gray = np.asarray(Image.open(path).convert("L"))
    assert gray.max() <= 2 and len(np.unique(gray)) == (3 if quality == 95 else 2)
    got, got_rule = decide(path)
    assert got_rule == rule
    assert np.array_equal(got, (gray >= 1).astype(np.uint8))  # midpoint of the levels 0 and 1
    assert iou(got, m) > 0.9


# ------------------------------------------------------------------------------------------------
# palette masks
# ------------------------------------------------------------------------------------------------


def palette_png(path: Path, indices: np.ndarray, colours: Sequence[Sequence[int]]) -> Path:
    im = Image.fromarray(indices.astype(np.uint8), mode="P")
    flat = [c for colour in colours for c in colour]
    im.putpalette(flat + [0] * (768 - len(flat)))
    im.save(path)
    return path


def test_palette_mask(tmp_path: Path) -> None:
    m = lesion()
    got, rule = decide(palette_png(tmp_path / "m.png", m, [(0, 0, 0), (255, 255, 255)]))
    assert np.array_equal(got, m) and rule == "two values"


def test_inverted_palette_applies_the_palette(tmp_path: Path) -> None:
    """Index 0 is white (HAM10000): the raw indices are the inverse of the lesion."""
    m = lesion()
    path = palette_png(tmp_path / "m.png", 1 - m, [(255, 255, 255), (0, 0, 0)])
    got, rule = decide(path)
    assert np.array_equal(got, m) and rule == "two values"


def test_red_palette_is_not_emptied(tmp_path: Path) -> None:
    """A black/red palette (VOC-like, one class): red's gray value 76 was below 128."""
    m = lesion()
    got, _ = decide(palette_png(tmp_path / "m.png", m, [(0, 0, 0), (128, 0, 0)]))
    assert np.array_equal(got, m)


def test_palette_label_map_refused_then_decided_by_indices(tmp_path: Path) -> None:
    lab = label_map()
    path = palette_png(tmp_path / "m.png", lab, [(0, 0, 0), (128, 0, 0), (0, 128, 0)])
    reason = refused(path)
    assert "3 indices" in reason and "(128, 0, 0)" in reason and "mask_foreground" in reason
    got, rule = decide(path, foreground=[2])
    assert np.array_equal(got, (lab == 2).astype(np.uint8)) and rule == "labels"


# ------------------------------------------------------------------------------------------------
# colour masks
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("colour", [(255, 0, 0), (0, 0, 255), (0, 200, 0)], ids=str)
@pytest.mark.parametrize(("name", "writer"), [("m.png", "pil"), ("m.png", "cv2")])
def test_colour_on_black_lossless(tmp_path: Path, colour, name: str, writer: str) -> None:
    """Red or blue on black: their gray values (76, 29) were below 128, an empty mask."""
    m = lesion()
    got, rule = decide(write(tmp_path / name, rgb(m, colour), writer))
    assert np.array_equal(got, m) and rule == "colour on black"


@pytest.mark.parametrize("colour", [(255, 0, 0), (0, 0, 255)], ids=str)
@pytest.mark.parametrize("writer", ["pil", "cv2"])
def test_colour_on_black_jpeg(tmp_path: Path, colour, writer: str) -> None:
    m = lesion()
    got, rule = decide(write(tmp_path / "m.jpg", rgb(m, colour), writer, quality=80))
    assert rule == "colour on black" and iou(got, m) > 0.97


def test_alpha_mask(tmp_path: Path) -> None:
    """Black paint whose alpha channel is the mask (the colour alone would be empty)."""
    m = lesion()
    rgba = np.zeros((S, S, 4), np.uint8)
    rgba[..., 3] = m * 255
    got, _ = decide(write(tmp_path / "m.png", rgba))
    assert np.array_equal(got, m)


def test_two_colours_refused_naming_them(tmp_path: Path) -> None:
    lab = label_map()
    arr = rgb(lab == 1, (255, 0, 0))
    arr[lab == 2] = (0, 255, 0)
    reason = refused(write(tmp_path / "m.png", arr))
    assert "2 foreground colours" in reason
    assert "(255, 0, 0)" in reason and "(0, 255, 0)" in reason


def test_colour_without_black_background_refused(tmp_path: Path) -> None:
    reason = refused(write(tmp_path / "m.png", rgb(lesion(), (255, 0, 0), (255, 255, 255))))
    assert "without a black background" in reason


def test_colour_mask_with_label_param_refused(tmp_path: Path) -> None:
    reason = refused(write(tmp_path / "m.png", rgb(lesion(), (255, 0, 0))), foreground=[1])
    assert "colour mask" in reason and "mask_foreground" in reason


# ------------------------------------------------------------------------------------------------
# label maps
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["m.png", "m.tif"])
def test_label_map_refused_naming_its_values(tmp_path: Path, name: str) -> None:
    """{0, 1, 2} was thresholded at 128: an empty mask, without a word."""
    reason = refused(write(tmp_path / name, label_map()))
    assert "3 values" in reason and "label map" in reason
    for v in ("0 (", "1 (", "2 ("):
        assert v in reason
    assert "preprocess.mask_foreground" in reason


def test_label_map_with_a_small_class_is_refused(tmp_path: Path) -> None:
    """A small third class leaves the histogram nearly two-valued: its flat region tells."""
    lab = lesion()
    lab[24:30, 24:30] = 2  # 36 px inside the lesion
    assert "label map" in refused(write(tmp_path / "m.png", lab))


@pytest.mark.parametrize(("labels", "expected"), [([1, 2], {1, 2}), ([2], {2}), ([7], set())])
def test_label_map_with_mask_foreground(tmp_path: Path, labels: list[int], expected) -> None:
    lab = label_map()
    got, rule = decide(write(tmp_path / "m.png", lab), foreground=labels)
    assert rule == "labels"
    assert np.array_equal(got, np.isin(lab, list(expected)).astype(np.uint8))


def test_mask_foreground_param() -> None:
    cfg = from_mapping(PreprocessParams, {"image_size": 32, "mask_foreground": [1, 2]}, "x")
    assert cfg.mask_foreground == (1, 2)
    assert PreprocessParams(image_size=32, mask_foreground=3).mask_foreground == (3,)  # type: ignore[arg-type]
    assert PreprocessParams(image_size=32).mask_foreground is None
    for bad in ([], [-1], ["a"], [True]):
        with pytest.raises(ParamsError, match="mask_foreground"):
            from_mapping(PreprocessParams, {"image_size": 32, "mask_foreground": bad}, "x")


# ------------------------------------------------------------------------------------------------
# empty and full masks: kept, counted in meta.json, reported
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(0, 0), (255, 1), (1, 1)])
def test_constant_masks(tmp_path: Path, value: int, expected: int) -> None:
    got, rule = decide(write(tmp_path / "m.png", np.full((S, S), value, np.uint8)))
    assert rule == "one value" and (got == expected).all()


def test_prepare_counts_kinds_empty_and_full_masks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A folder of mixed masks through ``prepare``: counts in meta.json, rejects with values."""
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    m = lesion()
    dot = np.zeros((S, S), np.uint8)
    dot[9, 9] = 255  # a one-pixel lesion: nearest resizing to 16 px samples rows 2, 6, 10, ...
    masks = {
        "a_binary": (m * 255, "png"),
        "b_zero_one_jpeg": (m, "jpg"),
        "c_red": (rgb(m, (255, 0, 0)), "png"),
        "d_blue": (rgb(m, (0, 0, 255)), "png"),
        "e_empty": (np.zeros((S, S), np.uint8), "png"),
        "f_empty_jpeg": (np.zeros((S, S, 3), np.uint8), "jpg"),
        "g_full": (np.full((S, S), 255, np.uint8), "png"),
        "h_labels": (label_map(), "png"),
        "i_dot": (dot, "png"),
    }
    for stem, (arr, ext) in masks.items():
        write(src / "images" / f"{stem}.png", np.full((S, S, 3), 100, np.uint8))
        write(src / "masks" / f"{stem}.{ext}", arr, **({"quality": 95} if ext == "jpg" else {}))
    folder = SOURCES.get("folder")
    raw = tmp_path / "raw"
    folder.download(folder.parse({"source": "folder", "path": str(src)}), raw)
    split = {"train": 0.6, "val": 0.2, "test": 0.2}
    cfg = PreprocessParams(image_size=16, split=split)
    with caplog.at_level(logging.WARNING):
        meta = prepare(raw, tmp_path / "out", folder.scan, None, cfg)

    assert read_json(tmp_path / "out" / "meta.json") == meta
    assert meta["n_rejected"] == 1 and sum(meta["counts"].values()) == 8
    assert meta["n_empty_masks"] == 3  # two empty files and the dot, resized away
    assert meta["n_emptied_by_resize"] == 1
    assert meta["n_full_masks"] == 1
    assert meta["mask_rules"] == {
        "colour on black": 2,
        "one value": 3,
        "two clusters": 1,
        "two values": 2,
    }
    rejects = pd.read_csv(tmp_path / "out" / "rejects.csv")
    assert rejects["file"].tolist() == ["masks/h_labels.png"]
    assert "3 values" in rejects["reason"][0] and "mask_foreground" in rejects["reason"][0]
    assert "3 of the 8 masks are empty" in caplog.text and "e_empty" in caplog.text
    assert "1 of the 8 masks are full" in caplog.text and "g_full" in caplog.text
    assert "lost all their foreground when resized" in caplog.text and "i_dot" in caplog.text

    cfg = PreprocessParams(image_size=16, split=split, mask_foreground=(1, 2))
    meta = prepare(raw, tmp_path / "labels", folder.scan, None, cfg)
    assert meta["n_rejected"] == 2  # the colour masks: labels cannot name a colour
    assert meta["mask_rules"] == {"labels": 7}
