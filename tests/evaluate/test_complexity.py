"""Complexity of a map: the Gini sparseness and the entropy of |Φ|."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seginterp.evaluate.complexity import complexity


def test_uniform_and_one_pixel_maps_are_the_two_ends() -> None:
    n = 16 * 16
    uniform = complexity(np.full((3, 16, 16), -0.5))
    assert uniform["sparseness"] == pytest.approx(0.0, abs=1e-12)
    assert uniform["entropy"] == pytest.approx(math.log(n))
    one = np.zeros((16, 16))
    one[3, 4] = 7.0
    spike = complexity(one)
    assert spike["sparseness"] == pytest.approx(1 - 1 / n) and spike["entropy"] == 0.0


def test_gini_equals_the_mean_absolute_difference_form() -> None:
    """G = Σ_i Σ_j |v_i − v_j| / (2 n² mean v): another formula for the same index."""
    v = np.abs(np.random.default_rng(1).normal(size=(12, 12)))
    flat = v.ravel()
    mad = np.abs(flat[:, None] - flat[None, :]).sum() / (2 * flat.size**2 * flat.mean())
    out = complexity(v)
    assert out["sparseness"] == pytest.approx(mad)
    p = flat / flat.sum()
    assert out["entropy"] == pytest.approx(-(p * np.log(p)).sum())


def test_a_zero_map_has_no_complexity() -> None:
    assert complexity(np.zeros((4, 4))) == {"sparseness": None, "entropy": None}
