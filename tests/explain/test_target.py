"""The explained function's inputs: baselines and the explained pixel sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seginterp.explain.target import PixelSet, make_baseline


def test_baselines():
    x = torch.rand(1, 3, 32, 32)
    assert make_baseline(x, "zeros").abs().sum() == 0
    flat = torch.full((1, 3, 32, 32), 0.25)
    torch.testing.assert_close(make_baseline(flat, "blur"), flat)
    assert make_baseline(x, "blur").std() < x.std()
    m = make_baseline(x, "mean", mean_rgb=[0.1, 0.2, 0.3])
    assert m[0, :, 5, 7].tolist() == pytest.approx([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="mean_rgb"):
        make_baseline(x, "mean")


def test_pixel_sets():
    border = np.zeros((6, 5), bool)
    border[1, 1:4] = border[4, 0:5] = True
    whole = PixelSet.whole(border)
    assert whole.mode == "exact" and whole.mask is None and whole.n == 8
    np.testing.assert_array_equal(whole.flat, np.flatnonzero(border))
    assert PixelSet.whole(border, "one-pass").mode == "one-pass"
    s = PixelSet.sample(border, 3, seed=2, key=9)
    rng = np.random.default_rng([2, 9])  # the documented draw: sorted, without replacement
    want = np.sort(rng.choice(np.flatnonzero(border), size=3, replace=False))
    np.testing.assert_array_equal(s.flat, want)
    assert s.mode == "sampled(3)" and s.n == 3 and s.mask.shape == border.shape
    np.testing.assert_array_equal(np.flatnonzero(s.mask), want)
    assert PixelSet.sample(border, 8, seed=2, key=9).mode == "exact"
    assert s.tensor(torch.device("cpu")).dtype == torch.long
