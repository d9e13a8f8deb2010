"""Guided Backprop: every ReLU passes back only positive gradients through positive inputs.

Not linear in the output cotangent, so the map is the exact mean over the explained pixels of
each pixel's guided gradient (the same rule as Captum's ``GuidedBackprop``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seginterp.explain.exact import ExactRule
from seginterp.explain.methods.base import Method

if TYPE_CHECKING:
    from seginterp.explain.config import AttributeConfig


def _exact(_cfg: AttributeConfig, _layer: str | None) -> ExactRule:
    return ExactRule(lambda chunk: chunk.guided, guided=True)


METHOD = Method(
    name="guided_backprop",
    description="Guided Backprop, mean over border pixels (nonlinear: exact or sampled)",
    exact=_exact,
)
