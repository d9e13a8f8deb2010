"""The measure layer: what a metric is (:class:`Metric`, registered in
:mod:`seginterp.evaluate.metrics`) and what it reads of one image (:class:`MeasureContext`);
:func:`measure` runs the metrics one image at a time (what an image needs is read once, and the
randomized pairs made once, whichever metric asks first).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from seginterp.core import distributed as dist
from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.functions import explained_change
from seginterp.evaluate.inputs import EvaluateData, ImageRef
from seginterp.evaluate.randomized import MapPair, randomize_weights, randomized_pairs
from seginterp.explain.config import AttributeConfig
from seginterp.explain.engine import Explainer, quiet_captum
from seginterp.explain.store import ImageMaps, MapKey

Rows = list[dict[str, Any]]


def choose_images(n: int, k: int) -> list[int]:
    """``k`` positions evenly spaced over ``range(n)`` (first and last included), unique, sorted."""
    if n <= 0 or k <= 0:
        return []
    if k >= n:
        return list(range(n))
    return sorted({round(float(v)) for v in np.linspace(0, n - 1, k)})


@dataclass(frozen=True)
class Metric:
    """One metric: ``rows(context)`` of one image for the images ``images(n, cfg)`` chooses
    among the ``n`` scored ones (positions, sorted).

    ``columns``: the table's columns (kept when it has no rows; None: the rows' keys).
    ``sharded``: under torchrun the images are spread across ranks (else rank 0 measures all).
    """

    name: str
    rows: Callable[[MeasureContext], Rows]
    images: Callable[[int, EvaluateConfig], Sequence[int]] = lambda n, _cfg: range(n)
    columns: tuple[str, ...] | None = None
    sharded: bool = False


@dataclass
class MeasureContext:
    """One image as the metrics see it (:attr:`ref`), with the run's inputs and parameters."""

    data: EvaluateData
    cfg: EvaluateConfig
    acfg: AttributeConfig
    ref: ImageRef
    _stored: ImageMaps | None = None
    _pairs: dict[MapKey, MapPair] = field(default_factory=dict)
    _shared: dict[str, Any] = field(default_factory=dict)  # made once, for every image

    @property
    def explainer(self) -> Explainer:
        return self.data.explainer

    @property
    def model(self) -> nn.Module:
        return self.data.explainer.model

    @property
    def x(self) -> torch.Tensor:
        """(1, 3, S, S) the image in [0, 1] on the device."""
        return self.data.x(self.ref)

    @property
    def stored(self) -> ImageMaps:
        """The image's stored maps (read once)."""
        if self._stored is None:
            self._stored = self.data.stored(self.ref)
        return self._stored

    @property
    def pred(self) -> np.ndarray:
        """(S, S) the predicted mask."""
        return np.asarray(self.data.preds[self.ref.index])

    def layer_modules(self) -> dict[str, nn.Module]:
        """Layer name -> module for every stored layer map."""
        return {k.layer: self.explainer.layer(k.layer) for k in self.stored.maps if k.layer}

    def model_keys(self) -> list[MapKey]:
        return [MapKey(m) for m in self.acfg.methods]

    def layer_keys(self) -> list[MapKey]:
        return [MapKey(m, k) for m in self.acfg.layer_methods for k in self.acfg.layers]

    @property
    def randomized(self) -> Explainer:
        """The explainer of the randomized-weights model (made once, shared by every image)."""
        if "randomized" not in self._shared:
            net = randomize_weights(self.model, self.cfg.seed)
            d = self.data
            self._shared["randomized"] = Explainer(net, self.acfg, mean_rgb=d.mean_rgb,
                                                   device=d.device)  # fmt: skip
        return self._shared["randomized"]

    def with_baseline(self, baseline: str) -> Explainer:
        """An explainer of the trained model whose reference input is ``baseline`` (made once,
        shared by every image)."""
        name = f"baseline:{baseline}"
        if name not in self._shared:
            d, acfg = self.data, dataclasses.replace(self.acfg, deeplift_baseline=baseline)
            self._shared[name] = Explainer(self.model, acfg, mean_rgb=d.mean_rgb, device=d.device)
        return self._shared[name]

    def pairs(self, keys: Sequence[MapKey]) -> list[MapPair]:
        """The trained and randomized maps of ``keys`` (those stored), made once per image: the
        keys not asked before come from one :func:`randomized_pairs` call."""
        todo = [k for k in keys if k not in self._pairs and k in self.stored.maps]
        if todo:
            made = randomized_pairs(self.explainer, self.randomized, self.x, self.ref.id,
                                    self.stored, todo, self.cfg)  # fmt: skip
            self._pairs.update({p.key: p for p in made})
        return [self._pairs[k] for k in keys if k in self._pairs]

    def change(
        self, explainer: Explainer, pixels: Sequence[np.ndarray]
    ) -> list[tuple[float, float]]:
        """``(f(x), f(x₀))`` under ``explainer``'s model of the mean logit over each pixel set,
        ``x₀`` its baseline (:func:`~seginterp.evaluate.functions.explained_change`)."""
        x = self.x
        return explained_change(explainer.model, x, explainer.baseline(x), pixels)


def measure(
    data: EvaluateData,
    cfg: EvaluateConfig,
    acfg: AttributeConfig,
    metrics: Sequence[Metric],
    parts_dir: Callable[[str], Any],
    desc: str,
) -> tuple[dict[str, pd.DataFrame], dict[str, float]] | None:
    """Every metric's table over its images, and the seconds each metric took.

    One image at a time, the metrics in order. Under torchrun each rank measures its share of
    the sharded metrics' images (the i-th image goes to rank i % world) and rank 0 the others;
    the tables are gathered on rank 0 in image order (``parts_dir(name)``: where the parts go).
    Returns None on the other ranks.
    """
    n = len(data.todo)
    chosen = {m.name: set(m.images(n, cfg)) for m in metrics}
    mine = set(dist.shard(n))
    rows: dict[str, Rows] = {m.name: [] for m in metrics}
    positions: dict[str, list[int]] = {m.name: [] for m in metrics}
    seconds = dict.fromkeys(rows, 0.0)
    shared: dict[str, Any] = {}
    todo = [j for j in range(n) if any(j in chosen[m.name] for m in metrics)]
    with quiet_captum():
        # on a terminal or not: tests/stages/test_kill.py reads this bar in the stage's log
        for j in tqdm(todo, desc=f"evaluate {desc}", unit="img", disable=not dist.is_main()):
            ctx = MeasureContext(data, cfg, acfg, data.todo[j], _shared=shared)
            for m in metrics:
                if j not in chosen[m.name] or not (j in mine if m.sharded else dist.is_main()):
                    continue
                t0 = time.perf_counter()
                new = m.rows(ctx)
                seconds[m.name] += time.perf_counter() - t0
                rows[m.name] += new
                positions[m.name] += [ctx.ref.position] * len(new)
    tables = {}
    for m in metrics:
        if m.sharded:
            table = dist.gather_rows(parts_dir(m.name), m.name, rows[m.name], positions[m.name],
                                     m.columns)  # fmt: skip
        else:
            table = pd.DataFrame(
                rows[m.name], columns=None if m.columns is None else list(m.columns)
            )
        tables[m.name] = table
    if not dist.is_main() or any(t is None for t in tables.values()):
        return None
    return tables, seconds
