"""Integrated Gradients of ``f`` from the configured baseline (Gauss-Legendre path: linear)."""

from __future__ import annotations

from captum.attr import IntegratedGradients

from seginterp.explain.methods.base import Method

METHOD = Method(
    name="integrated_gradients",
    description="Integrated Gradients of f",
    variant=lambda cfg: f"baseline={cfg.deeplift_baseline}, n_steps={cfg.ig_steps}, gausslegendre",
    one_pass=lambda f, x, baseline, cfg, layer: IntegratedGradients(f).attribute(
        x, baselines=baseline, n_steps=cfg.ig_steps, internal_batch_size=cfg.chunk_size
    ),
    completeness="approximate",
)
