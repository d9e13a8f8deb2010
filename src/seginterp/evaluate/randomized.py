"""The randomized model: the same architecture re-initialized, and its maps of the stored functions.

One re-initialized copy (:func:`randomize_weights`) serves the sanity check
(:mod:`seginterp.evaluate.sanity`) and the region null (:mod:`seginterp.evaluate.regions`):
:func:`randomized_pairs` re-explains each stored map's function with it and pairs the result with
the trained model's map of the same function. The maps of one image come from one
:meth:`~seginterp.explain.engine.Explainer.maps` call per model, so they share passes as the
attribute stage's maps do (one gradient pass for saliency and Grad-CAM at every layer, one
DeepLIFT pass for DeepLIFT at model level and every layer, one exact pass per pixel set).
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.functions import recompute_function
from seginterp.explain.store import ImageMaps, MapKey

if TYPE_CHECKING:
    from seginterp.explain.engine import Explainer, WantedMap

# Salt of the re-initialization seed: a fixed string (the module's former dotted name), not
# __name__, so that moving this module does not change the randomized weights.
_SALT = "seginterp.sanity.randomize"


def randomize_weights(model: nn.Module, seed: int) -> nn.Module:
    """A deep copy of ``model`` (same mode) with every parameter re-initialized, seeded.

    The generator is seeded with a value derived from ``seed`` (not ``seed`` itself), so a model
    built under ``torch.manual_seed(seed)`` is not re-drawn with its own initial weights. Modules
    without ``reset_parameters`` but with parameters of their own are refused: a partly trained
    copy would make the check look better than it is.
    """
    rnd = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(zlib.crc32(f"{_SALT}:{int(seed)}".encode()))
        for name, module in rnd.named_modules():
            own = list(module.parameters(recurse=False))
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
            elif own:
                raise TypeError(
                    f"module {name or '<root>'} ({type(module).__name__}) has parameters but no "
                    "reset_parameters(); cannot re-initialize it"
                )
    return rnd


@dataclass(frozen=True)
class MapPair:
    """One map of one image from both models: model level (C, H, W), layer level (H, W)
    upsampled; ``function`` labels the function both explain, ``pixels`` its pixel set."""

    key: MapKey
    mode: str
    function: str
    trained: np.ndarray
    randomized: np.ndarray
    pixels: np.ndarray | None = None  # (H, W) bool: the pixels of the mean logit explained


def randomized_pairs(
    trained: Explainer,
    randomized: Explainer,
    x: Tensor,
    image_id: str,
    stored: ImageMaps,
    keys: Sequence[MapKey],
    cfg: EvaluateConfig,
) -> list[MapPair]:
    """The trained and randomized maps of ``keys`` for one image.

    Each map re-explains the stored map's function
    (:func:`~seginterp.evaluate.functions.recompute_function`); the trained map is the stored one,
    or re-computed too when its pixels were reduced (``cfg.recompute_max_pixels``).

    Args:
        trained, randomized: explainers of the trained and the re-initialized model.
        x: (1, C, H, W) the image in [0, 1].
        stored: the image's stored maps.
        keys: the maps to pair (those absent from ``stored`` are skipped).
    """
    keys = [k for k in keys if k in stored.maps]
    functions = [
        recompute_function(stored.modes[k], stored, image_id, cfg.recompute_max_pixels, cfg.seed)
        for k in keys
    ]
    wanted: list[WantedMap] = [
        (k.method, k.layer, fn.pixels) for k, (fn, _) in zip(keys, functions, strict=True)
    ]
    again = [w for w, (_, reduced) in zip(wanted, functions, strict=True) if reduced]
    rnd = iter(_maps(randomized, x, wanted))
    ref = iter(_maps(trained, x, again))
    return [
        MapPair(
            k,
            stored.modes[k],
            fn.label,
            next(ref) if reduced else stored.maps[k],
            next(rnd),
            fn.pixels,
        )
        for k, (fn, reduced) in zip(keys, functions, strict=True)
    ]


def _maps(ex: Explainer, x: Tensor, wanted: list[WantedMap]) -> list[np.ndarray]:
    """The maps of ``wanted`` for ``x`` (1, C, H, W): model level (C, H, W), layer (H, W)."""
    if not wanted:
        return []
    maps = ex.maps(x, wanted)
    return [
        m[0].cpu().numpy() if w[1] is None else m[0, 0].cpu().numpy()
        for m, w in zip(maps, wanted, strict=True)
    ]
