"""Border pixels: reference tests (morphological erosion, a torch twin), hand cases, stage."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from scipy import ndimage
from support import ROOT

from seginterp.explain.borders import border_pixels, border_status, border_summary, find_borders

CROSS = ndimage.generate_binary_structure(2, 1)  # 4-neighbourhood


def reference_border(mask: np.ndarray) -> np.ndarray:
    """M minus its 4-erosion, the outside of the image counted as inside M (not an edge)."""
    m = mask.astype(bool)
    return m & ~ndimage.binary_erosion(m, structure=CROSS, border_value=1)


def border_pixels_torch(mask: torch.Tensor) -> torch.Tensor:
    """A torch twin of border_pixels for a batch (N, H, W) or one mask (H, W)."""
    m = mask.bool()
    x = m if m.ndim == 3 else m[None]
    p = F.pad(x, (1, 1, 1, 1), value=True)  # beyond the edge counts as inside M
    all_in = p[:, :-2, 1:-1] & p[:, 2:, 1:-1] & p[:, 1:-1, :-2] & p[:, 1:-1, 2:]
    out = x & ~all_in
    return out if m.ndim == 3 else out[0]


@pytest.mark.parametrize("density", [0.05, 0.3, 0.5, 0.8, 0.97])
def test_border_matches_erosion_reference_on_random_masks(density):
    rng = np.random.default_rng(int(density * 100))
    for shape in [(1, 1), (1, 7), (5, 1), (13, 17), (32, 32)]:
        for _ in range(5):
            m = rng.random(shape) < density
            want = reference_border(m)
            np.testing.assert_array_equal(border_pixels(m), want)
            np.testing.assert_array_equal(border_pixels(m.astype(np.uint8)), want)
            np.testing.assert_array_equal(border_pixels_torch(torch.from_numpy(m)).numpy(), want)


def test_border_of_smooth_blobs_matches_reference():
    rng = np.random.default_rng(0)
    noise = ndimage.gaussian_filter(rng.standard_normal((4, 48, 48)), sigma=(0, 4, 4))
    masks = noise > 0
    want = np.stack([reference_border(m) for m in masks])
    np.testing.assert_array_equal(border_pixels_torch(torch.from_numpy(masks)).numpy(), want)


def test_hand_made_cases():
    square = np.zeros((7, 7), bool)
    square[2:5, 2:5] = True
    ring = square.copy()
    ring[3, 3] = False  # the 8 outer pixels of the 3x3 square
    np.testing.assert_array_equal(border_pixels(square), ring)

    single = np.zeros((5, 5), bool)
    single[2, 2] = True
    np.testing.assert_array_equal(border_pixels(single), single)

    # the image frame is not an edge: a left half has its border only at the cut
    half = np.zeros((4, 6), bool)
    half[:, :3] = True
    want = np.zeros_like(half)
    want[:, 2] = True
    np.testing.assert_array_equal(border_pixels(half), want)

    # corner pixel: its only in-image neighbours decide
    corner = np.ones((3, 3), bool)
    corner[0, 0] = False
    want = np.zeros((3, 3), bool)
    want[0, 1] = want[1, 0] = True
    np.testing.assert_array_equal(border_pixels(corner), want)

    # diagonal contact is not 4-adjacency
    diag = np.ones((3, 3), bool)
    diag[0, 0] = False
    assert not border_pixels(diag)[1, 1]


def test_no_border_statuses():
    assert border_status(np.zeros((4, 4), np.uint8)) == "empty_prediction"
    assert border_status(np.ones((4, 4), np.uint8)) == "full_prediction"
    m = np.zeros((4, 4), bool)
    m[1, 1] = True
    assert border_status(m) == "ok"
    assert not border_pixels(np.ones((4, 4), bool)).any()
    assert not border_pixels(np.zeros((4, 4), bool)).any()


def test_rejects_bad_masks():
    with pytest.raises(ValueError, match="2-D"):
        border_pixels(np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="0 and 1"):
        border_pixels(np.full((3, 3), 2))


def test_summary_counts_only_images_with_a_border():
    s = border_summary(np.array([10, 0, 4, 0]), ["ok", "empty_prediction", "ok", "full_prediction"])
    assert s["mean"] == 7.0 and s["min"] == 4 and s["max"] == 10
    assert s["n_images"] == 4 and s["n_without_border"] == 2
    assert s["by_status"] == {"ok": 2, "empty_prediction": 1, "full_prediction": 1}
    none = border_summary(np.array([0]), ["empty_prediction"])
    assert none["mean"] is None and none["n_without_border"] == 1


def test_find_borders_refuses_a_table_of_other_masks():
    table = pd.DataFrame({"id": ["a"], "index": [0]})
    with pytest.raises(ValueError, match="1 table rows but 2 masks"):
        find_borders(np.zeros((2, 4, 4), np.uint8), table)


def _load_stage(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_stage_records_images_without_border(tmp_path):
    masks = np.zeros((3, 16, 16), np.uint8)
    masks[0, 4:9, 4:9] = 1
    masks[2] = 1  # full; masks[1] stays empty
    pred = tmp_path / "pred"
    pred.mkdir()
    np.save(pred / "masks.npy", masks)
    ids = ["a", "b", "c"]
    pd.DataFrame({"id": ids, "index": np.arange(3)}).to_parquet(pred / "per_image.parquet")
    out, metrics = tmp_path / "borders", tmp_path / "m" / "borders.json"
    res = CliRunner().invoke(
        _load_stage("borders").main,
        [
            "--dataset",
            "t",
            "--predictions",
            str(pred),
            "--out",
            str(out),
            "--metrics",
            str(metrics),
        ],
    )
    assert res.exit_code == 0, res.output
    b = np.load(out / "borders.npy")
    assert b.dtype == np.uint8 and b.shape == masks.shape
    np.testing.assert_array_equal(b[0], reference_border(masks[0]))
    table = pd.read_parquet(out / "borders.parquet")
    assert list(table["id"]) == ids
    assert list(table["status"]) == ["ok", "empty_prediction", "full_prediction"]
    assert list(table["n_border"]) == [16, 0, 0]
    m = json.loads(metrics.read_text())
    assert m["n_images"] == 3 and m["n_without_border"] == 2 and m["mean"] == 16.0
