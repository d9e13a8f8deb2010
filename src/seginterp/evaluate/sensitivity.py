"""Max-sensitivity (Ghorbani et al.) of border explanations, re-computed on perturbed inputs.

Captum's ``sensitivity_max``, ``max_k ‖Φ(x + u_k) − Φ(x)‖ / ‖Φ(x)‖`` (Frobenius) over
``n_samples`` draws ``u_k ~ U[−r, r]`` (Captum's default rule, own generator, one seed per
image). At the unperturbed input and at each perturbed input in turn, one
:meth:`~seginterp.explain.engine.Explainer.maps` call re-computes all the maps of an image
(shared passes); ``sensitivity_max`` then replays each map's explanations
(:func:`replayed_sensitivity`), so each value is, bit for bit, that of one ``sensitivity_max``
call per map with ``Explainer.map`` (tested). The perturbed inputs go one at a time: batching
them changes float32 results in the last bits (bench/sensitivity.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.functions import image_seed, recompute_function
from seginterp.evaluate.measure import MeasureContext, Metric, choose_images
from seginterp.explain.store import ImageMaps

if TYPE_CHECKING:
    from seginterp.explain.engine import Explainer, WantedMap

Progress = Callable[[int], object]
"""``progress(n)``: ``n`` more inputs done (e.g. ``tqdm.update``)."""

SENSITIVITY_COLUMNS: tuple[str, ...] = (
    *("id", "index", "level", "method", "layer", "mode"),
    *("function", "sensitivity", "radius", "n_samples", "recompute_rel_l2"),
)


def _uniform_ball(seed: int) -> Callable[[Any, float], Tensor]:
    """Captum's default sensitivity perturbation (uniform in the L∞ ball) with its own generator."""
    gen = torch.Generator().manual_seed(int(seed))

    def perturb(inputs: Any, perturb_radius: float) -> Tensor:
        t = inputs[0] if isinstance(inputs, tuple) else inputs
        u = torch.rand(t.shape, generator=gen, dtype=torch.float32)
        return t + ((2 * u - 1) * perturb_radius).to(t)

    return perturb


def replayed_sensitivity(
    x: Tensor,
    at_x: Tensor,
    perturbed: Tensor,
    at_perturbed: Tensor,
    radius: float,
    seed: int,
) -> float:
    """Captum ``sensitivity_max`` of maps computed beforehand, which it replays.

    ``at_x`` (1, ...) is the map at ``x`` (1, C, H, W); ``at_perturbed`` (n, ...) the maps at the
    ``perturbed`` inputs (n, C, H, W), which must be the draws ``sensitivity_max`` makes with
    ``_uniform_ball(seed)`` (checked).
    """
    from captum.metrics import sensitivity_max

    calls = iter([(x, at_x), (perturbed, at_perturbed)])

    def replay(inputs: Tensor | tuple[Tensor, ...], **kwargs: Any) -> tuple[Tensor]:
        given = inputs[0] if isinstance(inputs, tuple) else inputs
        want, maps = next(calls)
        if kwargs or not torch.equal(given, want):
            raise RuntimeError("sensitivity_max explained other inputs than the perturbed ones")
        return (maps,)

    value = sensitivity_max(
        replay,
        x,
        perturb_func=_uniform_ball(seed),
        perturb_radius=radius,
        n_perturb_samples=len(perturbed),
    )
    return float(value.reshape(-1)[0])


def shared_sensitivities(
    explainer: Explainer,
    x: Tensor,
    wanted: list[WantedMap],
    radius: float,
    n_samples: int,
    seed: int,
    progress: Progress | None = None,
) -> tuple[list[float], list[Tensor]]:
    """The sensitivity of each map of ``wanted`` (``(method, layer, pixels)``, see
    :meth:`~seginterp.explain.engine.Explainer.maps`) at ``x`` (1, C, H, W), and each map at
    ``x`` (1, ...).

    One ``explainer.maps`` call per input (``x``, then each perturbed input, one at a time);
    ``progress(1)`` after each of these ``n_samples + 1`` inputs.
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be (1, C, H, W), got {tuple(x.shape)}")
    perturbed = _uniform_ball(seed)(x.repeat_interleave(n_samples, dim=0), radius)
    per_input: list[list[Tensor]] = []
    for xi in [x, *perturbed.split(1)]:
        with torch.enable_grad():
            per_input.append(explainer.maps(xi, wanted))
        if progress is not None:
            progress(1)
    at_x, *rest = per_input
    values = [
        replayed_sensitivity(x, at_x[j], perturbed, torch.cat([m[j] for m in rest]), radius, seed)
        for j in range(len(wanted))
    ]
    return values, at_x


def sensitivity_rows(
    explainer: Explainer,
    x: Tensor,
    image_id: str,
    index: int,
    stored: ImageMaps,
    cfg: EvaluateConfig,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """The sensitivity table rows of one image, one per stored map (see the module doc).

    ``recompute_rel_l2`` is ``‖Φ_again − Φ_stored‖ / ‖Φ_stored‖``, null when the map was
    re-computed over fewer pixels (``cfg.recompute_max_pixels``). ``progress(1)`` after each
    input at which all maps are re-computed (``cfg.sensitivity_samples + 1`` in all); without
    it, a per-image tqdm bar counts them.
    """
    n = cfg.sensitivity_samples
    if progress is None:
        with tqdm(total=n + 1, desc=f"sensitivity {image_id}", unit="input", leave=False,
                  disable=None) as bar:  # fmt: skip
            return sensitivity_rows(explainer, x, image_id, index, stored, cfg, bar.update)
    keys = list(stored.maps)
    functions = [
        recompute_function(stored.modes[key], stored, image_id, cfg.recompute_max_pixels, cfg.seed)
        for key in keys
    ]
    wanted: list[WantedMap] = [
        (key.method, key.layer, function.pixels)
        for key, (function, _) in zip(keys, functions, strict=True)
    ]
    seed = image_seed(cfg.seed + 1, image_id)
    values, at_x = shared_sensitivities(
        explainer, x, wanted, cfg.sensitivity_radius, n, seed, progress
    )
    rows = []
    for key, (function, reduced), s, m in zip(keys, functions, values, at_x, strict=True):
        attr = stored.maps[key]
        again = m[0].cpu().numpy().reshape(attr.shape)
        ref = float(np.linalg.norm(attr)) or 1.0
        rel = None if reduced else float(np.linalg.norm(again - attr) / ref)
        rows.append(
            {
                "id": image_id,
                "index": index,
                "level": key.level,
                "method": key.method,
                "layer": key.layer,
                "mode": stored.modes[key],
                "sensitivity": s,
                "radius": cfg.sensitivity_radius,
                "n_samples": n,
                "function": function.label,
                "recompute_rel_l2": rel,
            }
        )
    return rows


def _rows(c: MeasureContext) -> list[dict[str, Any]]:
    return sensitivity_rows(c.explainer, c.x, c.ref.id, c.ref.index, c.stored, c.cfg)


METRIC = Metric(
    "sensitivity",
    _rows,
    lambda n, cfg: choose_images(n, cfg.sensitivity_max_images),
    SENSITIVITY_COLUMNS,
)
"""The sensitivity table: re-explains each image many times (costly), on
``sensitivity_max_images`` images."""
