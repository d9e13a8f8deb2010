"""What an attribution method declares: :class:`Method`.

A method explains ``f``, the border-mean logit (:class:`~seginterp.explain.target.BorderMeanLogit`).
When its backward rule is linear in the output cotangent (``linear(cfg)``), Captum on ``f`` once
equals the mean over border pixels ``q`` of the per-pixel maps of ``z_q``: its ``one_pass`` rule
is exact; a method whose map can be read from a pass other methods share declares it as
``shared`` (:mod:`seginterp.explain.passes`), and the engine runs that pass once for all of them.
Otherwise its ``exact`` rule gives the per-pixel map of each ``z_q`` from the shared
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
from seginterp.explain.passes import PassResult, SharedRule

if TYPE_CHECKING:
    from seginterp.explain.config import AttributeConfig

OnePass = Callable[
    [nn.Module, torch.Tensor, torch.Tensor, "AttributeConfig", "nn.Module | None"], torch.Tensor
]
"""``(f, x, baseline, cfg, layer) -> map``: ``layer`` is the module of a layer method, else None.
``x``, ``baseline`` (B, C, H, W); model level -> (B, C, H, W), layer level -> the channel-summed
layer map (B, 1, h, w)."""

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
        shared: optional: the same map as ``one_pass``, read from a pass other maps share
            (:mod:`seginterp.explain.passes`); the engine runs each such pass once for all the
            linear maps (every method, every layer) that read it, ``one_pass`` otherwise.
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
    shared: SharedRule | None = None
    exact: Exact | None = None
    deeplift: bool = False
    completeness: Literal["exact", "approximate"] | None = None

    def __post_init__(self) -> None:
        if self.one_pass is None and self.exact is None:
            raise ValueError(f"method {self.name!r} declares neither a one-pass nor an exact rule")
        if self.level not in ("model", "layer"):
            raise ValueError(f"method {self.name!r}: level must be model or layer")
        if self.shared is not None and self.one_pass is None:
            raise ValueError(
                f"method {self.name!r}: a shared rule needs the one-pass rule it equals"
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

    def read_shared(self, result: PassResult, layer: str | None) -> torch.Tensor:
        """This method's map read from ``result``, a run of its ``shared`` pass (model level
        (B, C, H, W); layer level (B, 1, h, w))."""
        if self.shared is None:
            raise RuntimeError(f"method {self.name!r} reads no shared pass")
        if layer is not None and layer not in result.grads:
            raise RuntimeError(f"method {self.name!r}: the pass did not read layer {layer!r}")
        return self.shared.read(result, layer)

    def exact_rule(self, cfg: AttributeConfig, layer: str | None) -> ExactRule:
        """The per-pixel rule of this map (see :data:`Exact`)."""
        if self.exact is None:
            raise RuntimeError(f"method {self.name!r} has no exact rule")
        return self.exact(cfg, layer)
