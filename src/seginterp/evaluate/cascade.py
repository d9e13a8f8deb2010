"""Cascading model-parameter randomisation (MPRT, Adebayo et al. 2018).

Metric ``cascade`` (``cascade_images`` images). The network's blocks are re-initialized from the
output back to the input, one at a time and cumulatively: first the segmentation head, then the
named layers (:func:`seginterp.explain.layers.layer_table`) in reverse network order
(``decoder5`` … ``encoder1`` for the U-Net). After each step every model-level method re-explains
its stored map's function (the same pixels as the trained map, :func:`randomized_pairs`) with
that model, and its map is compared with the trained model's: the Spearman rank correlation over
pixels of the channel-summed maps (signed and of absolute values) and the SSIM of the absolute
maps scaled to [0, 1] (:func:`ssim`). Every method sees the same randomized weights at a step
(one model per step, seeded, shared by every image). A map that explains the model falls towards
0 as the cascade reaches the blocks it depends on; one that stays high reflects the input or the
architecture. ``params_share`` is the share of the model's parameters re-initialized so far
(what the named layers do not cover, e.g. a stem, stays trained).
"""

from __future__ import annotations

import copy
import zlib
from typing import Any

import numpy as np
import torch
from scipy.ndimage import uniform_filter
from torch import nn

from seginterp.evaluate.measure import MeasureContext, Metric, choose_images
from seginterp.evaluate.randomized import randomized_pairs
from seginterp.evaluate.regions import to_2d
from seginterp.evaluate.sanity import rank_correlation
from seginterp.explain.engine import Explainer
from seginterp.explain.layers import layer_table

HEAD = "head"
_SALT = "seginterp.cascade"
SSIM_WINDOW = 7
"""The side of SSIM's uniform window (scikit-image's default)."""


def blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The cascade's blocks, output first: the segmentation head, then the named layers in
    reverse network order."""
    out = [(HEAD, model.segmentation_head)] if hasattr(model, "segmentation_head") else []
    table = layer_table(model)
    return out + [(name, model.get_submodule(table[name])) for name in reversed(table)]


def cascade_models(model: nn.Module, seed: int) -> list[tuple[str, float, nn.Module]]:
    """``(block, params_share, model)`` per step: a copy of ``model`` whose first ``k`` blocks
    (:func:`blocks`) are re-initialized (each module's ``reset_parameters``, seeded per block)."""
    net = copy.deepcopy(model)
    total = sum(p.numel() for p in net.parameters())
    done: set[int] = set()
    out = []
    for name, block in blocks(net):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(zlib.crc32(f"{_SALT}:{int(seed)}:{name}".encode()))
            for module in block.modules():
                reset = getattr(module, "reset_parameters", None)
                if callable(reset):
                    reset()
                elif list(module.parameters(recurse=False)):
                    raise TypeError(f"{name}: {type(module).__name__} cannot be re-initialized")
        done |= {id(p) for p in block.parameters()}
        share = sum(p.numel() for p in net.parameters() if id(p) in done) / total
        out.append((name, share, copy.deepcopy(net)))
    return out


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """The mean structural similarity of two (H, W) images (Wang et al. 2004), as
    ``skimage.metrics.structural_similarity`` computes it by default (a 7 × 7 uniform window,
    sample covariances, K1 = 0.01, K2 = 0.03, the border of half a window left out)."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape or x.ndim != 2 or min(x.shape) < SSIM_WINDOW:
        raise ValueError(f"ssim needs two equal (H, W) images of side >= 7, got {x.shape}, "
                         f"{y.shape}")  # fmt: skip
    norm = SSIM_WINDOW**2 / (SSIM_WINDOW**2 - 1)
    ux, uy = uniform_filter(x, SSIM_WINDOW), uniform_filter(y, SSIM_WINDOW)
    vx = norm * (uniform_filter(x * x, SSIM_WINDOW) - ux * ux)
    vy = norm * (uniform_filter(y * y, SSIM_WINDOW) - uy * uy)
    vxy = norm * (uniform_filter(x * y, SSIM_WINDOW) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    pad = (SSIM_WINDOW - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean())


def map_similarity(trained: np.ndarray, randomized: np.ndarray) -> dict[str, float | None]:
    """``spearman``, ``spearman_abs`` (:func:`rank_correlation`) and ``ssim`` of the absolute
    channel-summed maps, each scaled by its largest value (null for an all-zero map)."""
    a, b = np.abs(to_2d(trained)), np.abs(to_2d(randomized))
    sim = None if a.max() == 0 or b.max() == 0 else ssim(a / a.max(), b / b.max())
    return {**rank_correlation(trained, randomized), "ssim": sim}


def _steps(c: MeasureContext) -> list[tuple[str, float, Explainer]]:
    if "cascade" not in c._shared:
        d = c.data
        c._shared["cascade"] = [
            (name, share, Explainer(net, c.acfg, mean_rgb=d.mean_rgb, device=d.device))
            for name, share, net in cascade_models(c.model, c.cfg.seed)
        ]
    return c._shared["cascade"]


def _rows(c: MeasureContext) -> list[dict[str, Any]]:
    rows = []
    for step, (name, share, ex) in enumerate(_steps(c), start=1):
        pairs = randomized_pairs(c.explainer, ex, c.x, c.ref.id, c.stored, c.model_keys(), c.cfg)
        rows += [{"id": c.ref.id, "index": c.ref.index, "method": p.key.method, "mode": p.mode,
                  "function": p.function, "step": step, "block": name, "params_share": share,
                  **map_similarity(p.trained, p.randomized)} for p in pairs]  # fmt: skip
    return rows


COLUMNS: tuple[str, ...] = ("id", "index", "method", "mode", "function", "step", "block",
                            "params_share", "spearman", "spearman_abs", "ssim")  # fmt: skip
METRIC = Metric("cascade", _rows, lambda n, cfg: choose_images(n, cfg.cascade_images), COLUMNS)
"""The cascade table: the model-level maps on ``cascade_images`` images, one row per step."""
