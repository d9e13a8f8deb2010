"""Deletion and insertion along the border function (pixel flipping / region perturbation, with
ROAD's noisy linear imputation).

Metric ``deletion`` (``deletion_images`` images). A map ``Φ`` (model maps summed over channels,
as in :mod:`seginterp.evaluate.regions`; layer maps, with ``deletion_layers``, as stored:
upsampled to the input, convention ``paper_bilinear``) orders the ``N`` pixels, most relevant
(largest signed ``Φ``) first, ties in pixel order. At step ``i = 0 … s`` (``s`` =
``deletion_steps``) the first ``round(i N / s)`` pixels of the order are *removed*: replaced in
every channel by ROAD's noisy linear imputation (``replacement: road``: each removed pixel the
weighted mean of its 8 neighbours, 1/6 direct and 1/12 diagonal, solved jointly, plus Gaussian
noise of std 0.01, Rong et al. 2022) or by the explainer's baseline input (``baseline``). The
explained function is the border-mean logit ``f`` over the frozen border (the function the
paper's maps explain), and a curve is ``f(x_i) − f(x)``:

- ``deletion``: the area under the curve of the order (MoRF), over the removed fraction in [0, 1]
  (trapezoid rule); lower = the map's first pixels carry ``f``;
- ``insertion``: the area under the curve of the image that *keeps* the first ``t`` of the order
  and imputes the rest, over ``t``. With one replacement this image is the least-relevant-first
  (LeRF) deletion at ``1 − t``, so insertion is ROAD's LeRF curve read from its other end; higher
  = faithful;
- ``gap``: ``insertion − deletion`` (> 0: the order is better than its reverse).

Each image also has the rows of a seeded random order (method ``random``): the chance line, whose
gap is 0 in expectation. The imputation noise and the random order are drawn once per image, so
every map is perturbed the same way; ``f(x)`` and the all-removed image are shared, and every
perturbed input goes through the model in batches of ``batch_size`` across maps: ``2 + 2 (s − 1)
(maps + 1)`` forwards per image.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import spsolve
from torch import Tensor, nn

from seginterp.evaluate.config import REPLACEMENTS
from seginterp.evaluate.functions import flat_weights, image_seed, mean_logits, pixel_weights
from seginterp.evaluate.layer_infidelity import PAPER_BILINEAR
from seginterp.evaluate.measure import MeasureContext, Metric, choose_images
from seginterp.evaluate.regions import map_columns, to_2d
from seginterp.explain.store import MapKey

COLUMNS: tuple[str, ...] = ("deletion", "insertion", "gap")
"""The per-map quantities (module doc)."""
RANDOM = MapKey("random")
"""The key of the random order's rows (the chance line)."""
ROAD_NOISE = 0.01
"""The std of ROAD's imputation noise (inputs in [0, 1]), as in Rong et al.'s code."""
_NEIGHBOURS: tuple[tuple[int, int, float], ...] = (
    *((dy, dx, 1 / 6) for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0))),
    *((dy, dx, 1 / 12) for dy, dx in ((1, 1), (1, -1), (-1, 1), (-1, -1))),
)


def impute(x: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """ROAD's linear imputation (no noise) of the ``removed`` pixels of ``x``.

    Each removed pixel takes the weighted mean of its neighbours inside the image (1/6 direct,
    1/12 diagonal, renormalised at the edges), known and removed alike: one sparse linear system
    for all removed pixels and channels. With every pixel removed the system has no anchor and
    each channel takes its mean.

    Args:
        x: (C, H, W) float image.
        removed: (H, W) bool.

    Returns:
        (C, H, W) float64, equal to ``x`` off ``removed``.
    """
    c, h, w = x.shape
    r = np.asarray(removed, dtype=bool)
    if r.shape != (h, w):
        raise ValueError(f"removed {r.shape} does not match the image {(h, w)}")
    out = np.array(x, dtype=np.float64)
    if not r.any():
        return out
    if r.all():
        return np.broadcast_to(out.mean(axis=(1, 2))[:, None, None], out.shape).copy()
    idx = np.flatnonzero(r.ravel())
    var = np.full(h * w, -1)
    var[idx] = np.arange(len(idx))
    yy, xx = np.divmod(idx, w)
    flat = out.reshape(c, -1)
    rows, cols, vals = [], [], []
    total = np.zeros(len(idx))
    rhs = np.zeros((len(idx), c))
    for dy, dx, weight in _NEIGHBOURS:
        ny, nx = yy + dy, xx + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        eq, nb = np.flatnonzero(inside), (ny * w + nx)[inside]
        total[eq] += weight
        unknown = var[nb] >= 0
        rows.append(eq[unknown])
        cols.append(var[nb[unknown]])
        vals.append(np.full(int(unknown.sum()), -weight))
        rhs[eq[~unknown]] += weight * flat[:, nb[~unknown]].T
    n = len(idx)
    a = sparse.coo_matrix(
        (np.concatenate([total, *vals]),
         (np.concatenate([np.arange(n), *rows]), np.concatenate([np.arange(n), *cols]))),
        shape=(n, n),
    ).tocsc()  # fmt: skip
    solved = spsolve(a, rhs)
    flat[:, idx] = np.asarray(solved).reshape(n, c).T
    return out


def removal_counts(n_pixels: int, steps: int) -> list[int]:
    """The pixels removed at each step ``0 … steps``: ``round(i · n / steps)``."""
    return [round(i * n_pixels / steps) for i in range(steps + 1)]


def auc(curve: np.ndarray) -> float:
    """The trapezoid area under ``curve`` sampled at equal steps over [0, 1]."""
    y = np.asarray(curve, dtype=np.float64)
    return float(((y[1:] + y[:-1]) / 2).sum() / (len(y) - 1))


def order_of(attr: np.ndarray) -> np.ndarray:
    """The pixel order of a map (C, H, W) or (H, W): flat indices, largest signed ``Φ`` first
    (channels summed), ties in pixel order."""
    return np.argsort(-to_2d(attr).ravel(), kind="stable")


@torch.no_grad()
def deletion_curves(
    model: nn.Module,
    x: Tensor,
    border: np.ndarray,
    orders: Sequence[np.ndarray],
    steps: int,
    replace: Callable[[np.ndarray], np.ndarray],
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The MoRF and LeRF curves ``f(x_i)`` of each pixel order, sharing the forwards.

    Args:
        model: logits model, eval mode, on ``x``'s device.
        x: (1, C, H, W) the image in [0, 1].
        border: (H, W) bool, the frozen border of the explained mean logit.
        orders: flat pixel indices, most relevant first (:func:`order_of`), one per map.
        steps: the curve's steps (removed fraction ``1/steps`` each).
        replace: ``(removed (H, W) bool) -> (C, H, W)`` the image with ``removed`` replaced.

    Returns:
        ``morf``, ``lerf``: (orders, steps + 1) float64, step 0 = ``f(x)``, the last step the
        all-removed image (shared).
    """
    _, _, h, w = x.shape
    counts = removal_counts(h * w, steps)[1:-1]
    masks = [np.zeros((h, w), bool), np.ones((h, w), bool)]  # f(x), every pixel removed
    for order in orders:
        for seq in (order, order[::-1]):  # MoRF, LeRF
            for k in counts:
                m = np.zeros(h * w, bool)
                m[seq[:k]] = True
                masks.append(m.reshape(h, w))
    inputs = torch.from_numpy(np.stack([replace(m) for m in masks]).astype(np.float32))
    w = flat_weights(pixel_weights(border)[None], x.device)
    inputs = inputs.to(x.device)
    f = torch.cat([mean_logits(model, inputs[i : i + batch_size], w)[:, 0]
                   for i in range(0, len(inputs), batch_size)]).cpu().numpy()  # fmt: skip
    inner = f[2:].reshape(len(orders), 2, len(counts))
    ends = np.broadcast_to(f[:2], (len(orders), 2))
    morf = np.concatenate([ends[:, :1], inner[:, 0], ends[:, 1:]], axis=1)
    lerf = np.concatenate([ends[:, :1], inner[:, 1], ends[:, 1:]], axis=1)
    return morf, lerf


def curve_scores(morf: np.ndarray, lerf: np.ndarray) -> dict[str, float]:
    """``deletion``, ``insertion`` and ``gap`` (module doc) of one order's curves (steps + 1,)."""
    f0 = morf[0]
    deletion = auc(morf - f0)
    insertion = auc(lerf[::-1] - f0)  # keeping the first t = removing the last 1 − t
    return {"deletion": deletion, "insertion": insertion, "gap": insertion - deletion,
            "f_x": float(f0), "f_removed": float(morf[-1])}  # fmt: skip


def replacement(
    kind: str, x: Tensor, baseline: Tensor, rng: np.random.Generator
) -> Callable[[np.ndarray], np.ndarray]:
    """``removed (H, W) bool -> (C, H, W)`` float64: ROAD's noisy linear imputation (``road``,
    one noise draw per image shared by every mask) or the baseline input (``baseline``)."""
    img = x[0].detach().cpu().numpy().astype(np.float64)
    if kind == "road":
        noise = rng.standard_normal(img.shape) * ROAD_NOISE

        def road(removed: np.ndarray) -> np.ndarray:
            return impute(img, removed) + noise * removed

        return road
    if kind == "baseline":
        ref = baseline[0].detach().cpu().numpy().astype(np.float64)
        return lambda removed: np.where(removed, ref, img)
    raise ValueError(f"evaluate.deletion_replacement must be one of {REPLACEMENTS}, got {kind!r}")


def deletion_rows(
    image_id: str,
    index: int,
    model: nn.Module,
    x: Tensor,
    baseline: Tensor,
    maps: Mapping[MapKey, np.ndarray],
    modes: Mapping[MapKey, str],
    border: np.ndarray,
    *,
    steps: int,
    kind: str,
    seed: int,
    batch_size: int,
) -> list[dict[str, Any]]:
    """The deletion rows of one image: one per map of ``maps``, then the random order's.

    Args:
        baseline: (1, C, H, W) the explainer's reference input (``kind`` ``baseline``).
        maps: key -> (C, H, W) model map or (H, W) layer map at the input's size.
        seed: the evaluation seed (the image's noise and random order derive from it).
    """
    rng = np.random.default_rng(image_seed(seed + 4, image_id))
    replace = replacement(kind, x, baseline, rng)
    keys = list(maps)
    orders = [order_of(maps[k]) for k in keys] + [rng.permutation(x.shape[-2] * x.shape[-1])]
    morf, lerf = deletion_curves(model, x, border, orders, steps, replace, batch_size)
    return [
        {**map_columns(image_id, index, key, modes.get(key, "seeded")),
         "convention": PAPER_BILINEAR if key.layer else "input", "replacement": kind,
         "steps": steps, **curve_scores(morf[j], lerf[j])}
        for j, key in enumerate([*keys, RANDOM])
    ]  # fmt: skip


def _rows(c: MeasureContext) -> list[dict[str, Any]]:
    s, x = c.stored, c.x
    maps = {k: a for k, a in s.maps.items() if k.layer is None or c.cfg.deletion_layers}
    return deletion_rows(c.ref.id, c.ref.index, c.model, x, c.explainer.baseline(x), maps,
                         s.modes, s.border, steps=c.cfg.deletion_steps,
                         kind=c.cfg.deletion_replacement, seed=c.cfg.seed,
                         batch_size=c.cfg.batch_size)  # fmt: skip


METRIC = Metric(
    "deletion",
    _rows,
    images=lambda n, cfg: choose_images(
        n, n if cfg.deletion_images is None else cfg.deletion_images
    ),
    sharded=True,
)
"""The deletion table: ``deletion_images`` images (null: every scored image)."""
