"""Fixtures of tests/explain: one thread, Captum's UserWarnings silenced, a trained U-Net."""

from __future__ import annotations

import warnings

import pytest
import torch
from explain.captum_ref import by_key, cfg, trained_unet

from seginterp.explain.engine import Explainer


@pytest.fixture(autouse=True)
def _quiet():
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


@pytest.fixture(scope="session")
def trained():
    """(model, its Captum-safe copy, image (1, 3, S, S), border (S, S)); see trained_unet."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return trained_unet()


@pytest.fixture(scope="session")
def records(trained):
    """An explainer of every method at every layer and its records of the trained image,
    by (method, layer)."""
    _, safe, x, border = trained
    ex = Explainer(safe, cfg())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return ex, by_key(ex.explain(x, border))
