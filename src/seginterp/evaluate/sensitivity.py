"""Max-sensitivity (Ghorbani et al.) of border explanations, re-computed on perturbed inputs.

:func:`sensitivity` is Captum's ``sensitivity_max`` on an explanation callable, with a seeded
uniform L∞-ball perturbation (Captum's default rule, own generator). :func:`sensitivity_rows`
re-explains each stored map of an image that way; the first re-computation (at the unperturbed
input) is compared with the stored map (``recompute_rel_l2``) to check that the stored map is the
one re-computed.

Progress: each map costs ``n_samples + 1`` explanations (the unperturbed input, then one per
perturbation sample); a ``progress`` callback is told of each as it ends (``progress(1)``), and
:func:`sensitivity_rows` shows a per-image bar of them when given no callback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.functions import ScoredFunction, image_seed, recompute_function
from seginterp.explain.store import ImageMaps, MapKey

if TYPE_CHECKING:
    from seginterp.explain.engine import Explainer

Progress = Callable[[int], object]
"""``progress(n)``: ``n`` more explanations done (e.g. ``tqdm.update``)."""

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


def tuple_explainer(
    explain_fn: Callable[[Tensor], Tensor], progress: Progress | None = None
) -> Callable[..., tuple[Tensor]]:
    """Adapt ``explain_fn(x (1, C, H, W)) -> map`` for ``sensitivity_max``.

    ``sensitivity_max`` calls the explanation with a tuple of inputs (first call) or a batch of
    perturbed inputs, under ``torch.no_grad``, and needs a tuple back, while the attribution
    methods need gradients: this wrapper unpacks, re-enables gradients, runs one input at a time
    and returns ``(maps,)``; ``progress(1)`` after each input's map.
    """

    def fn(inputs: Tensor | tuple[Tensor, ...], **kwargs: Any) -> tuple[Tensor]:
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}; bind them in explain_fn")
        x = inputs[0] if isinstance(inputs, tuple) else inputs
        out = []
        for i in range(x.shape[0]):
            with torch.enable_grad():
                out.append(explain_fn(x[i : i + 1]).detach())
            if progress is not None:
                progress(1)
        return (torch.cat(out),)

    return fn


def sensitivity(
    explain_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    radius: float,
    n_samples: int,
    seed: int,
    progress: Progress | None = None,
) -> float:
    """Captum ``sensitivity_max`` of ``explain_fn`` at ``x`` (1, C, H, W), Frobenius norm ratio.

    ``max_k ‖Φ(x + u_k) − Φ(x)‖ / ‖Φ(x)‖`` over ``n_samples`` draws ``u_k ~ U[−r, r]``;
    ``progress(1)`` after each of the ``n_samples + 1`` explanations (the result does not depend
    on it).
    """
    from captum.metrics import sensitivity_max

    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be (1, C, H, W), got {tuple(x.shape)}")
    value = sensitivity_max(
        tuple_explainer(explain_fn, progress),
        x,
        perturb_func=_uniform_ball(seed),
        perturb_radius=radius,
        n_perturb_samples=n_samples,
    )
    return float(value.reshape(-1)[0])


def _map_sensitivity(
    explainer: Explainer,
    x: Tensor,
    key: MapKey,
    function: ScoredFunction,
    seed: int,
    cfg: EvaluateConfig,
    progress: Progress | None = None,
) -> tuple[float, np.ndarray]:
    """Sensitivity of the map ``key`` re-explaining ``function``, and that map at ``x``."""
    first: dict[str, Tensor] = {}

    def explain_fn(xb: Tensor) -> Tensor:
        m = explainer.map(key.method, xb, function.pixels, layer=key.layer)
        first.setdefault("map", m.detach())
        return m

    n = cfg.sensitivity_samples
    s = sensitivity(explain_fn, x, cfg.sensitivity_radius, n, seed, progress)
    return s, first["map"][0].cpu().numpy()


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
    explanation (``len(stored.maps) * (cfg.sensitivity_samples + 1)`` in all); without it, a
    per-image tqdm bar counts them.
    """
    if progress is None:
        total = len(stored.maps) * (cfg.sensitivity_samples + 1)
        with tqdm(total=total, desc=f"sensitivity {image_id}", unit="expl", leave=False) as bar:
            return sensitivity_rows(explainer, x, image_id, index, stored, cfg, bar.update)
    rows = []
    for key, attr in stored.maps.items():
        mode = stored.modes[key]
        function, reduced = recompute_function(
            mode, stored, image_id, cfg.recompute_max_pixels, cfg.seed
        )
        seed = image_seed(cfg.seed + 1, image_id)
        s, again = _map_sensitivity(explainer, x, key, function, seed, cfg, progress)
        again = again.reshape(attr.shape)
        ref = float(np.linalg.norm(attr)) or 1.0
        rel = None if reduced else float(np.linalg.norm(again - attr) / ref)
        rows.append(
            {
                "id": image_id,
                "index": index,
                "level": key.level,
                "method": key.method,
                "layer": key.layer,
                "mode": mode,
                "sensitivity": s,
                "radius": cfg.sensitivity_radius,
                "n_samples": cfg.sensitivity_samples,
                "function": function.label,
                "recompute_rel_l2": rel,
            }
        )
    return rows
