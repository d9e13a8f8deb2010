"""What an attribution method declares: :class:`Method`.

A method explains ``f``, the border-mean logit (:class:`~seginterp.explain.target.BorderMeanLogit`).
When its backward rule is linear in the output cotangent (``linear(cfg)``), Captum on ``f`` once
equals the mean over border pixels ``q`` of the per-pixel maps of ``z_q``: its ``one_pass`` rule
is exact. Otherwise its ``exact`` rule gives the per-pixel map of each ``z_q`` from the shared
backward passes of :func:`~seginterp.explain.exact.exact_maps`, which averages them.

One file per method in this package declares its ``METHOD``; ``seginterp.explain.registry`` lists
them. The engine only reads these fields, so a new method is one file plus one registry line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

from seginterp.explain.exact import ExactRule

if TYPE_CHECKING:
    from seginterp.explain.config import AttributeConfig

OnePass = Callable[
    [nn.Module, torch.Tensor, torch.Tensor, "AttributeConfig", "nn.Module | None"], torch.Tensor
]
"""``(f, x, baseline, cfg, layer) -> map``: ``layer`` is the module of a layer method, else None.
``x``, ``baseline`` (B, C, H, W); model level -> (B, C, H, W), layer level -> the channel-summed
layer map (B, 1, h, w)."""

OnePassLayers = Callable[
    [nn.Module, torch.Tensor, torch.Tensor, "AttributeConfig", "dict[str, nn.Module]"],
    "dict[str, torch.Tensor]",
]
"""``(f, x, baseline, cfg, modules) -> {layer name: map}``: the one-pass maps of a layer method at
every layer of ``modules`` (name -> module) from one shared pass, each equal to ``one_pass`` at
that layer: (B, 1, h, w) channel-summed."""

Exact = Callable[["AttributeConfig", "str | None"], ExactRule]
"""``(cfg, layer name or None) -> ExactRule``: the per-pixel rule of a nonlinear map."""


@dataclass(frozen=True)
class Method:
    """One attribution method.

    Attributes:
        name: registry name (stored in the ``method`` column).
        description: one line for humans.
        level: ``model`` (maps in input channels) or ``layer`` (a map per named layer).
        linear: whether the rule is linear in the output cotangent for this config: then
            ``one_pass`` is exact, else ``exact`` is used (over all or a sample of the border).
            Default: linear iff the method has no exact rule.
        variant: the Captum choices stored with each map (e.g. signed saliency, baseline);
            default: none.
        one_pass: the Captum call on ``f`` (needed when ``linear`` can be true).
        one_pass_layers: optional, layer methods only: ``one_pass`` at many layers from one
            shared pass (one forward and one backward instead of one of each per layer); the
            engine uses it for the linear maps of one image, ``one_pass`` otherwise.
        exact: the per-pixel rule (needed when ``linear`` can be false).
        deeplift: uses Captum's DeepLift rules: the model must pass
            :func:`~seginterp.explain.deeplift_check.check_deeplift`.
        completeness: what the map's sum is claimed to equal, ``Δf = f(x) − f(x₀)`` from the
            configured baseline: ``exact`` (up to float rounding; for a layer map only where
            the layer is a cut of the graph, see :mod:`seginterp.explain.completeness`),
            ``approximate`` (up to the path-integral error), or None (no such claim).
    """

    name: str
    description: str
    level: Literal["model", "layer"] = "model"
    linear: Callable[[AttributeConfig], bool] | None = None
    variant: Callable[[AttributeConfig], str] = lambda cfg: ""
    one_pass: OnePass | None = None
    one_pass_layers: OnePassLayers | None = None
    exact: Exact | None = None
    deeplift: bool = False
    completeness: Literal["exact", "approximate"] | None = None

    def __post_init__(self) -> None:
        if self.one_pass is None and self.exact is None:
            raise ValueError(f"method {self.name!r} declares neither a one-pass nor an exact rule")
        if self.level not in ("model", "layer"):
            raise ValueError(f"method {self.name!r}: level must be model or layer")
        if self.one_pass_layers is not None and (self.level != "layer" or self.one_pass is None):
            raise ValueError(
                f"method {self.name!r}: one_pass_layers needs a layer method with a one-pass rule"
            )

    def is_linear(self, cfg: AttributeConfig) -> bool:
        """Whether ``one_pass`` is exact for ``cfg`` (see ``linear``)."""
        return self.linear(cfg) if self.linear is not None else self.exact is None

    def run_one_pass(
        self,
        f: nn.Module,
        x: torch.Tensor,
        baseline: torch.Tensor,
        cfg: AttributeConfig,
        layer: nn.Module | None,
    ) -> torch.Tensor:
        """The one-pass map (see :data:`OnePass`)."""
        if self.one_pass is None:
            raise RuntimeError(f"method {self.name!r} has no one-pass rule")
        return self.one_pass(f, x, baseline, cfg, layer)

    def run_one_pass_layers(
        self,
        f: nn.Module,
        x: torch.Tensor,
        baseline: torch.Tensor,
        cfg: AttributeConfig,
        modules: dict[str, nn.Module],
    ) -> dict[str, torch.Tensor]:
        """The one-pass maps at every layer of ``modules`` from one shared pass (see
        :data:`OnePassLayers`)."""
        if self.one_pass_layers is None:
            raise RuntimeError(f"method {self.name!r} has no one-pass rule for many layers")
        maps = self.one_pass_layers(f, x, baseline, cfg, modules)
        if list(maps) != list(modules):
            raise RuntimeError(f"method {self.name!r}: one_pass_layers returned {list(maps)}")
        return maps

    def exact_rule(self, cfg: AttributeConfig, layer: str | None) -> ExactRule:
        """The per-pixel rule of this map (see :data:`Exact`)."""
        if self.exact is None:
            raise RuntimeError(f"method {self.name!r} has no exact rule")
        return self.exact(cfg, layer)
