"""Cross-check against Quantus (0.6.0): sparseness, complexity (entropy), relevance mass accuracy
and top-k intersection equal Quantus' metrics on the same maps and masks.

Quantus is not a dependency (it requires opencv-python, which would sit beside albumentations'
opencv-python-headless in one environment); the test runs where it can be imported, e.g.
``pip install --target /tmp/qt --no-deps quantus cachetools scikit-learn threadpoolctl joblib
cloudpickle narwhals`` and ``PYTHONPATH=/tmp/qt pytest tests/evaluate/test_quantus.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seginterp.evaluate.complexity import complexity
from seginterp.evaluate.localisation import localisation

quantus = pytest.importorskip("quantus", reason="Quantus is not installed (module doc)")


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
