"""Fixtures of tests/explain: one thread, Captum's UserWarnings silenced, a trained U-Net."""

from __future__ import annotations

import warnings

import pytest
import torch
from explain.captum_ref import by_key, cfg, trained_unet

from seginterp.core.registry import Registry
from seginterp.explain import engine
from seginterp.explain import registry as registry_module
from seginterp.explain.engine import Explainer
from seginterp.explain.methods.base import Method


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


@pytest.fixture
def extra_method(monkeypatch):
    """``add(registry, method)``: this test's copy of ``METHODS`` or ``LAYER_METHODS`` (the
    registry's name) with ``method`` added, seen by the engine."""

    def add(registry: str, method: Method) -> None:
        original: Registry[Method] = getattr(registry_module, registry)
        extended: Registry[Method] = Registry(original.kind)
        for name in original.names():
            extended.add(name, original.get(name))
        extended.add(method.name, method)
        monkeypatch.setattr(registry_module, registry, extended)
        monkeypatch.setattr(engine, registry, extended)

    return add
