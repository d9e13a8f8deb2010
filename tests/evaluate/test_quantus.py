"""Cross-check against Quantus (0.6.0): sparseness, complexity (entropy), relevance mass accuracy
and top-k intersection equal Quantus' metrics on the same maps and masks; the deletion curve
equals ``PixelFlipping`` on a wrapper that makes the border-mean logit a one-output classifier,
and the ROAD imputation Quantus' ``noisy_linear_imputation`` without noise.

Quantus is a test dependency only, installed without its own dependencies by ``make install``
(tests/requirements-quantus.txt: it requires opencv-python, which would sit beside
albumentations' opencv-python-headless in one environment).
"""

from __future__ import annotations

import numpy as np
import quantus
import torch

from seginterp.evaluate.complexity import complexity
from seginterp.evaluate.deletion import deletion_curves, impute, order_of
from seginterp.evaluate.localisation import localisation


def test_our_maps_scores_equal_quantus() -> None:
    rng = np.random.default_rng(0)
    n, size = 4, 32
    a = np.abs(rng.normal(size=(n, 1, size, size)))
    s = (rng.random((n, 1, size, size)) < 0.2).astype(np.float64)
    x = rng.random((n, 3, size, size)).astype(np.float32)
    y = np.zeros(n, dtype=int)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * size * size, 2))
    common = {"disable_warnings": True, "abs": True, "normalise": False}

    def run(metric, i=slice(None)):
        return np.asarray(metric(model=model, x_batch=x[i], y_batch=y[i], a_batch=a[i],
                                 s_batch=s[i], device="cpu"))  # fmt: skip

    ours = [complexity(a[i, 0]) for i in range(n)]
    mass = [localisation(a[i, 0], {"s": s[i, 0].astype(bool)}) for i in range(n)]
    sparse = run(quantus.Sparseness(**common))  # Quantus adds 1e-7 to every |a|
    assert np.allclose(sparse, [o["sparseness"] for o in ours], atol=1e-6)
    entropy = run(quantus.Complexity(**common))
    assert np.allclose(entropy, [o["entropy"] for o in ours], atol=1e-8)
    rma = run(quantus.RelevanceMassAccuracy(**common))
    assert np.allclose(rma, [m["mass_s"] for m in mass], atol=1e-12)
    for i in range(n):  # Quantus takes one k per call: the mask's size here
        k = int(s[i, 0].sum())
        top = run(quantus.TopKIntersection(k=k, **common), slice(i, i + 1))
        assert np.allclose(top, [mass[i]["top_k_s"]], atol=1e-12)


class BorderMean(torch.nn.Module):
    """A one-output "classifier" of the border-mean logit of a small segmentation net."""

    def __init__(self, border: np.ndarray) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Tanh(),
                                       torch.nn.Conv2d(4, 1, 3, padding=1))  # fmt: skip
        self.register_buffer("w", torch.from_numpy(border / border.sum()).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = (self.net(x)[:, 0] * self.w).flatten(1).sum(1)
        return torch.stack([f, -f], dim=1)


def test_our_deletion_curve_equals_quantus_pixel_flipping() -> None:
    rng = np.random.default_rng(3)
    # Quantus counts features_in_step against H·W but flips (channel, pixel) entries: 48 entries
    # divide 12·12 and are 16 whole pixels (a pixel's 3 entries tie and sort together), 9 steps
    size, steps = 12, 9
    border = np.zeros((size, size))
    border[3:9, 4] = 1
    model = BorderMean(border).eval()
    x = rng.random((2, 3, size, size)).astype(np.float32)
    a = rng.normal(size=(2, 1, size, size)).repeat(3, axis=1)  # a pixel's 3 features tie
    metric = quantus.PixelFlipping(features_in_step=48, perturb_baseline=0.0,
                                   abs=False, normalise=False, disable_warnings=True)  # fmt: skip
    theirs = np.asarray(metric(model=model, x_batch=x, y_batch=np.zeros(2, int), a_batch=a,
                               device="cpu", softmax=False))  # fmt: skip
    for i in range(2):
        xi = torch.from_numpy(x[i : i + 1])
        zero = lambda removed, img=x[i]: np.where(removed, 0.0, img)  # noqa: E731
        morf, _ = deletion_curves(model.net, xi, border.astype(bool), [order_of(a[i])], steps,
                                  zero, 25)  # fmt: skip
        assert np.allclose(morf[0, 1:], theirs[i], atol=1e-6)


def test_our_imputation_equals_quantus_noisy_linear_imputation() -> None:
    from quantus.functions.perturb_func import noisy_linear_imputation

    rng = np.random.default_rng(4)
    x = rng.random((3, 12, 9))
    removed = rng.random((12, 9)) < 0.5
    theirs = noisy_linear_imputation(x.copy(), np.flatnonzero(removed), noise=0.0)
    assert np.allclose(impute(x, removed), theirs, atol=1e-10)
