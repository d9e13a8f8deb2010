"""Model-randomization sanity check (Adebayo et al. 2018).

A map that explains the model should change when the model's weights are replaced by random ones.
For each method and image we compare the map of the trained model with the map of the same
architecture re-initialized (every module's own ``reset_parameters``, seeded; BatchNorm running
statistics reset too), explaining the same function (mean logit over the trained model's frozen
border). Spearman rank correlation over pixels of the channel-summed maps, signed and of absolute
values (Adebayo et al. report both, since randomization can flip signs). High correlation: the
method is insensitive to the model (it behaves like an edge detector of the input).
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import Tensor, nn

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.functions import recompute_function
from seginterp.evaluate.regions import to_2d
from seginterp.evaluate.stats import summary
from seginterp.explain.store import ImageMaps, MapKey

if TYPE_CHECKING:
    from seginterp.explain.engine import Explainer

SANITY_COLUMNS: tuple[str, ...] = (
    "id",
    "index",
    "method",
    "mode",
    "function",
    "spearman",
    "spearman_abs",
)


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


def rank_correlation(a: np.ndarray, b: np.ndarray) -> dict[str, float | None]:
    """Spearman ρ over pixels between two maps ((C, H, W) are summed over channels).

    Returns ``{spearman, spearman_abs}``; null where a map is constant (ρ undefined).
    """
    x, y = to_2d(a).ravel(), to_2d(b).ravel()
    if x.shape != y.shape:
        raise ValueError(f"maps differ in size: {x.shape} vs {y.shape}")

    def rho(u: np.ndarray, v: np.ndarray) -> float | None:
        if np.ptp(u) == 0 or np.ptp(v) == 0:
            return None
        return float(spearmanr(u, v).statistic)

    return {"spearman": rho(x, y), "spearman_abs": rho(np.abs(x), np.abs(y))}


def sanity_rows(
    trained: Explainer,
    randomized: Explainer,
    x: Tensor,
    image_id: str,
    index: int,
    stored: ImageMaps,
    methods: Sequence[str],
    cfg: EvaluateConfig,
) -> list[dict[str, Any]]:
    """The sanity table rows of one image: one per model-level method with a stored map.

    The randomized model re-explains the function of the stored map
    (:func:`~seginterp.evaluate.functions.recompute_function`); the trained model's map is the
    stored one, or re-computed too when its pixels were reduced (``cfg.recompute_max_pixels``).

    Args:
        trained, randomized: explainers of the trained and the re-initialized model.
        x: (1, C, H, W) the image in [0, 1].
        stored: the image's stored maps (:func:`seginterp.explain.store.read_image`).
        methods: model-level methods, in table order.
    """
    rows = []
    for method in methods:
        key = MapKey(method)
        if key not in stored.maps:
            continue
        mode = stored.modes[key]
        function, reduced = recompute_function(
            mode, stored, image_id, cfg.recompute_max_pixels, cfg.seed
        )
        rnd = randomized.map(method, x, function.pixels)[0].cpu().numpy()
        ref = trained.map(method, x, function.pixels)[0].cpu().numpy() if reduced else None
        corr = rank_correlation(stored.maps[key] if ref is None else ref, rnd)
        rows.append(
            {
                "id": image_id,
                "index": index,
                "method": method,
                "mode": mode,
                "function": function.label,
                **corr,
            }
        )
    return rows


def aggregate_sanity(df: Any, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """``sanity.json``'s per-method block from per-image rows (id, method, spearman, spearman_abs).

    Returns method -> ``{spearman: summary, spearman_abs: summary, per_image: [{id, spearman,
    spearman_abs}]}``; undefined ρ are left out of the summaries and kept as null per image.
    """
    out: dict[str, Any] = {}
    for method in dict.fromkeys(df["method"]):
        sub = df[df["method"] == method]
        block: dict[str, Any] = {}
        for col in ("spearman", "spearman_abs"):
            block[col] = summary(sub[col].dropna().to_numpy(dtype=np.float64), n_boot, seed)
        block["per_image"] = [
            {
                "id": str(r.id),
                "spearman": None if r.spearman is None or np.isnan(r.spearman) else r.spearman,
                "spearman_abs": (
                    None if r.spearman_abs is None or np.isnan(r.spearman_abs) else r.spearman_abs
                ),
            }
            for r in sub.itertuples(index=False)
        ]
        out[method] = block
    return out
