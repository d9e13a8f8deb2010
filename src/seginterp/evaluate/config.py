"""The evaluate stage's parameters: ``<dataset>.evaluate`` in params.yaml."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from seginterp.core.params import StageConfig

log = logging.getLogger(__name__)

REPLACEMENTS: tuple[str, ...] = ("road", "baseline")
"""What replaces the removed pixels of deletion/insertion (:mod:`seginterp.evaluate.deletion`)."""


@dataclass(frozen=True)
class EvaluateConfig(StageConfig):
    """``<dataset>.evaluate`` in params.yaml (build with ``EvaluateConfig.from_params``).

    ``batch_size`` (perturbed inputs per forward), ``alpha`` (family-wise level of the paired
    tests) and ``recompute_max_pixels`` have defaults and may be absent from params.yaml.
    ``recompute_max_pixels`` bounds the maps this stage re-computes (sensitivity, sanity check):
    null = every map over its own pixels; K = maps that are not one-pass (exact / sampled, whose
    cost grows with the pixel count) are re-explained over a seeded sample of at most K of their
    pixels — at x, at the perturbed inputs and for both models of the sanity check (recorded in
    the ``function`` column). ``null_images`` bounds the images whose maps are re-explained by the
    randomized-weights model for the region null (null = every scored image; 0 = no null, so
    region claims stay inconclusive). ``layer_images`` bounds the images whose layer maps are
    scored in their activation space, the costliest part of the stage (null = every scored
    image). ``deletion_*``: the deletion/insertion curves (:mod:`seginterp.evaluate.deletion`):
    ``deletion_steps`` steps of ``1/steps`` of the pixels, on ``deletion_images`` images (null =
    every scored image), the removed pixels replaced by ``road`` (noisy linear imputation) or
    ``baseline`` (the explainer's reference input); ``deletion_layers`` adds the layer maps.
    ``cascade_images``: the images of the cascading randomisation (one explanation per block).
    """

    section: ClassVar[str] = "evaluate"

    infidelity_sigma: tuple[float, ...] = (0.03,)  # Gaussian perturbation std, inputs in [0, 1]
    n_perturb_samples: int = 50  # draws per image and σ
    sensitivity_radius: float = 0.02  # L∞ radius of the sensitivity perturbations
    sensitivity_samples: int = 5  # perturbed inputs per sensitivity score
    sensitivity_max_images: int = 5  # images re-explained for sensitivity (costly)
    bootstrap: int = 1000  # resamples of the intervals over images
    band_width: int = 2  # border band = border dilated by this many px
    sanity_images: int = 3  # images of the weight-randomization check
    figure_images: int = 3  # images shown in the figures
    seed: int = 0
    device: str = "auto"
    batch_size: int = 25
    alpha: float = 0.05
    recompute_max_pixels: int | None = None
    null_images: int | None = None
    layer_images: int | None = None
    deletion_steps: int = 10
    deletion_images: int | None = None
    deletion_replacement: str = "road"
    deletion_layers: bool = False
    cascade_images: int = 3

    def __post_init__(self) -> None:
        if not self.infidelity_sigma or any(not s > 0 for s in self.infidelity_sigma):
            raise ValueError(
                f"evaluate.infidelity_sigma must be positive, got {self.infidelity_sigma}"
            )
        if len(set(self.infidelity_sigma)) != len(self.infidelity_sigma):
            raise ValueError(f"evaluate.infidelity_sigma has duplicates: {self.infidelity_sigma}")
        if self.n_perturb_samples < 2:
            raise ValueError(
                f"evaluate.n_perturb_samples must be >= 2, got {self.n_perturb_samples}"
            )
        if not self.sensitivity_radius > 0:
            raise ValueError(
                f"evaluate.sensitivity_radius must be > 0, got {self.sensitivity_radius}"
            )
        for name in ("sensitivity_samples", "bootstrap", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"evaluate.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("sensitivity_max_images", "band_width", "sanity_images", "figure_images",
                     "cascade_images"):  # fmt: skip
            if getattr(self, name) < 0:
                raise ValueError(f"evaluate.{name} must be >= 0, got {getattr(self, name)}")
        if not 2 <= self.deletion_steps <= 100:
            raise ValueError(
                f"evaluate.deletion_steps must be in [2, 100], got {self.deletion_steps}"
            )
        self.check_choice("deletion_replacement", REPLACEMENTS)
        for name in ("null_images", "layer_images", "deletion_images"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"evaluate.{name} must be >= 0 or null, got {value}")
        if self.recompute_max_pixels is not None and self.recompute_max_pixels < 1:
            raise ValueError(
                f"evaluate.recompute_max_pixels must be >= 1 or null, got "
                f"{self.recompute_max_pixels}"
            )
        if not 0 < self.alpha < 1:
            raise ValueError(f"evaluate.alpha must be in (0, 1), got {self.alpha}")
        if self.n_perturb_samples < 50:
            log.warning(
                "evaluate.n_perturb_samples=%d < 50: method rankings were measured to flip between "
                "10 and 50 samples; do not report these tables",
                self.n_perturb_samples,
            )
