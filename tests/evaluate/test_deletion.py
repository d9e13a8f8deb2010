"""Deletion and insertion along the border function: ROAD's imputation, the curves shared across
maps, and the scores of a map that is right, one that is reversed, and a random order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from seginterp.evaluate.deletion import (
    RANDOM,
    auc,
    curve_scores,
    deletion_curves,
    deletion_rows,
    impute,
    order_of,
    removal_counts,
)
from seginterp.explain.store import MapKey

NEIGHBOURS = [(0, 1, 1 / 6), (0, -1, 1 / 6), (1, 0, 1 / 6), (-1, 0, 1 / 6),
              (1, 1, 1 / 12), (1, -1, 1 / 12), (-1, 1, 1 / 12), (-1, -1, 1 / 12)]  # fmt: skip


def test_imputed_pixels_are_the_weighted_mean_of_their_neighbours() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((3, 12, 10))
    removed = rng.random((12, 10)) < 0.4
    removed[0, 0] = True  # a corner: its weights renormalised over 3 neighbours
    out = impute(x, removed)
    assert np.array_equal(out[:, ~removed], x[:, ~removed])
    for y, xx in zip(*np.nonzero(removed), strict=True):
        num, den = np.zeros(3), 0.0
        for dy, dx, w in NEIGHBOURS:
            ny, nx = y + dy, xx + dx
            if 0 <= ny < 12 and 0 <= nx < 10:
                num, den = num + w * out[:, ny, nx], den + w
        assert np.allclose(out[:, y, xx], num / den, atol=1e-12)


def test_imputation_of_a_constant_image_and_of_everything() -> None:
    x = np.full((3, 8, 8), 0.25)
    assert np.allclose(impute(x, np.eye(8, dtype=bool)), 0.25)
    x = np.random.default_rng(1).random((3, 8, 8))
    full = impute(x, np.ones((8, 8), bool))
    assert np.allclose(full, x.mean(axis=(1, 2))[:, None, None])
    with pytest.raises(ValueError, match="does not match"):
        impute(x, np.ones((4, 4), bool))


def test_counts_auc_and_order() -> None:
    assert removal_counts(10, 4) == [0, 2, 5, 8, 10]  # round half to even at 2.5 and 7.5
    assert auc(np.array([0.0, 1.0, 1.0])) == pytest.approx(0.75)
    attr = np.array([[[1.0, 3.0], [3.0, -2.0]]])  # (C, H, W): ties kept in pixel order
    assert order_of(attr).tolist() == [1, 2, 0, 3]


class PixelSum(nn.Module):
    """logit(h, w) = Σ_c x_c(h, w): the border mean is linear, ``grad × input`` its exact map."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(len(x))
        return x.sum(dim=1, keepdim=True)


def _zeros(x: np.ndarray):
    return lambda removed: np.where(removed, 0.0, x)


def test_the_exact_map_beats_the_random_order_and_its_reverse_loses() -> None:
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.random((1, 3, 16, 16)).astype(np.float32))
    border = np.zeros((16, 16), bool)
    border[4:12, 4:12] = True
    exact = np.where(border, x[0].numpy(), 0.0)  # grad × input of the border mean
    orders = [order_of(exact), order_of(-exact), rng.permutation(256)]
    model = PixelSum()
    morf, lerf = deletion_curves(model, x, border, orders, 8, _zeros(x[0].numpy()), 25)
    assert sum(model.calls) == 2 + 2 * 7 * 3  # f(x) and the all-removed image shared
    right, reverse, chance = (curve_scores(morf[j], lerf[j]) for j in range(3))
    assert right["deletion"] < chance["deletion"] < reverse["deletion"]
    assert right["insertion"] > chance["insertion"] > reverse["insertion"]
    assert right["gap"] > 0 > reverse["gap"]
    # off the border nothing moves f: the reverse order's curves are the right one's swapped
    assert reverse["gap"] == pytest.approx(-right["gap"], abs=1e-9)
    f_x = float(exact.sum() / border.sum())
    assert morf[0, 0] == pytest.approx(f_x, rel=1e-6) and morf[0, -1] == 0.0


def test_rows_are_seeded_and_end_with_the_random_order() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 1, 3, padding=1))
    model.eval()
    x = torch.rand(1, 3, 12, 12)
    border = np.zeros((12, 12), bool)
    border[3, 3:9] = True
    maps = {MapKey("saliency"): np.random.default_rng(0).random((3, 12, 12)),
            MapKey("gradcam", "decoder1"): np.random.default_rng(1).random((12, 12))}  # fmt: skip
    modes = {k: "one-pass" for k in maps}
    kw = {"steps": 4, "kind": "road", "seed": 0, "batch_size": 7}
    rows = deletion_rows("img", 5, model, x, torch.zeros_like(x), maps, modes, border, **kw)
    again = deletion_rows("img", 5, model, x, torch.zeros_like(x), maps, modes, border, **kw)
    assert rows == again
    assert [(r["method"], r["layer"], r["convention"]) for r in rows] == [
        ("saliency", None, "input"), ("gradcam", "decoder1", "paper_bilinear"),
        (RANDOM.method, None, "input"),
    ]  # fmt: skip
    assert {r["f_x"] for r in rows} == {rows[0]["f_x"]}
    other = deletion_rows("img2", 5, model, x, torch.zeros_like(x), maps, modes, border, **kw)
    assert other[-1]["gap"] != rows[-1]["gap"]  # the random order is the image's own
    with pytest.raises(ValueError, match="deletion_replacement"):
        deletion_rows("img", 5, model, x, x, maps, modes, border, **{**kw, "kind": "blur"})
