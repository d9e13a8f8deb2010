"""Fragility of border explanations: infidelity (Yeh et al. 2019) and max-sensitivity.

The explained function is ``f(x) = Σ_{h,w} W[h,w] · z_{h,w}(x)`` with ``W = 1_B / |B|`` for the
frozen border ``B`` (or ``1_Q / |Q|`` for a map averaged over a sampled pixel set ``Q``): a map is
scored against the function it explains.

Infidelity, computed the way ``captum.metrics.infidelity`` does with a perturbation function that
returns ``(I, x − I)`` for Gaussian noise ``I ~ N(0, σ²)`` (``multiply_by_inputs`` off):

- ``a_k = ⟨Φ, I_k⟩``, ``b_k = f(x) − f(x − I_k)`` for the ``n`` draws ``k``;
- ``normalize=False``: ``INFD = mean_k (a_k − b_k)²``;
- ``normalize=True``: ``β = Σ a_k b_k / Σ a_k²`` (Captum's ``safe_div``: β = 0 for an all-zero
  map), ``INFD = mean_k (β a_k − b_k)²`` — the best scalar rescaling of the map;
- the all-zero map scores ``E[Δf²] = mean_k b_k²`` under both settings; ``skill = 1 − INFD/E[Δf²]``.
  With ``normalize=True`` skill is the uncentred R² of ``b`` on ``a``; a map whose projections are
  unrelated to ``b`` reaches ``1/n`` on average (:func:`chance_skill`), not 0.

The draws ``I_k`` depend only on the image and σ (seeded from ``(seed, image id)``; the standard
normal draws are shared across σ and scaled): ``b`` is computed once per image and σ and reused for
every map. Layer maps ``L`` (H, W), already channel-summed and upsampled to the input, are
broadcast to the input channels: ``Φ_c = L`` for every channel ``c``, so ``⟨Φ, I⟩ =
Σ_{h,w} L[h,w] Σ_c I_c[h,w]``. This convention fixes the map's scale for ``normalize=False``;
``normalize=True`` is invariant to it.

Max-sensitivity (Ghorbani et al.) is Captum's ``sensitivity_max`` on an explanation callable, with
a seeded uniform L∞-ball perturbation (Captum's default rule, own generator).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .params import from_mapping
from .stats import pairwise_tests, ratio_skill, summary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluateConfig:
    """``<dataset>.evaluate`` in params.yaml.

    ``batch_size`` (perturbed inputs per forward), ``alpha`` (family-wise level of the paired
    tests) and ``recompute_max_pixels`` have defaults and may be absent from params.yaml.
    ``recompute_max_pixels`` bounds the maps this stage re-computes (sensitivity, sanity check):
    null = every map over its own pixels; K = maps that are not one-pass (exact / sampled, whose
    cost grows with the pixel count) are re-explained over a seeded sample of at most K of their
    pixels — at x, at the perturbed inputs and for both models of the sanity check (recorded in
    the ``function`` column).
    """

    infidelity_sigma: tuple[float, ...] = (0.03,)
    n_perturb_samples: int = 50
    sensitivity_radius: float = 0.02
    sensitivity_samples: int = 5
    sensitivity_max_images: int = 5
    bootstrap: int = 1000
    band_width: int = 2
    sanity_images: int = 3
    figure_images: int = 3
    seed: int = 0
    device: str = "auto"
    batch_size: int = 25
    alpha: float = 0.05
    recompute_max_pixels: int | None = None

    def __post_init__(self) -> None:
        if not self.infidelity_sigma or any(not s > 0 for s in self.infidelity_sigma):
            raise ValueError(
                f"evaluate.infidelity_sigma must be positive, got {self.infidelity_sigma}"
            )
        if len(set(self.infidelity_sigma)) != len(self.infidelity_sigma):
            raise ValueError(f"evaluate.infidelity_sigma has duplicates: {self.infidelity_sigma}")
        if self.n_perturb_samples < 2:
            raise ValueError(
                f"evaluate.n_perturb_samples must be >= 2, got {self.n_perturb_samples}"
            )
        if not self.sensitivity_radius > 0:
            raise ValueError(
                f"evaluate.sensitivity_radius must be > 0, got {self.sensitivity_radius}"
            )
        for name in ("sensitivity_samples", "bootstrap", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"evaluate.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("sensitivity_max_images", "band_width", "sanity_images", "figure_images"):
            if getattr(self, name) < 0:
                raise ValueError(f"evaluate.{name} must be >= 0, got {getattr(self, name)}")
        if self.recompute_max_pixels is not None and self.recompute_max_pixels < 1:
            raise ValueError(
                f"evaluate.recompute_max_pixels must be >= 1 or null, got "
                f"{self.recompute_max_pixels}"
            )
        if not 0 < self.alpha < 1:
            raise ValueError(f"evaluate.alpha must be in (0, 1), got {self.alpha}")
        if self.n_perturb_samples < 50:
            log.warning(
                "evaluate.n_perturb_samples=%d < 50: method rankings were measured to flip between "
                "10 and 50 samples (DESIGN §3); do not report these tables",
                self.n_perturb_samples,
            )


def evaluate_config_from_params(section: Mapping[str, Any]) -> EvaluateConfig:
    """Build from ``params[D]['evaluate']``; unknown keys fail listing the valid ones."""
    return from_mapping(EvaluateConfig, section, "evaluate")


# ---------------------------------------------------------------------------------------------
# the explained function and the shared perturbations


def image_seed(seed: int, image_id: str) -> int:
    """A per-image seed that does not depend on which other images are evaluated."""
    return zlib.crc32(f"{seed}:{image_id}".encode())


def standard_noise(shape: tuple[int, ...], n: int, seed: int) -> Tensor:
    """(n, *shape) float32 standard normal draws from a CPU generator seeded with ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randn((n, *shape), generator=gen, dtype=torch.float32)


def gaussian_perturbation(shape: tuple[int, ...], n: int, sigma: float, seed: int) -> Tensor:
    """The draws ``I`` (n, *shape) float32 for one image and σ: ``σ · standard_noise``."""
    return standard_noise(shape, n, seed) * float(sigma)


def pixel_weights(mask: np.ndarray | Tensor) -> Tensor:
    """``W = 1_Q / |Q|`` (H, W) float64 for a pixel set ``Q`` given as a bool mask (H, W)."""
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, Tensor) else mask).bool()
    if m.ndim != 2:
        raise ValueError(f"mask must be (H, W), got {tuple(m.shape)}")
    n = int(m.sum())
    if n == 0:
        raise ValueError("empty pixel set: there is no mean logit to explain")
    return m.to(torch.float64) / n


def subsample_pixels(mask: np.ndarray, k: int, seed: int) -> np.ndarray:
    """At most ``k`` pixels of ``mask`` (H, W) bool, uniformly without replacement, seeded."""
    m = np.asarray(mask, dtype=bool)
    flat = np.flatnonzero(m)
    if len(flat) <= k:
        return m.copy()
    chosen = np.random.default_rng(seed).choice(flat, size=k, replace=False)
    out = np.zeros(m.size, dtype=bool)
    out[chosen] = True
    return out.reshape(m.shape)


@torch.no_grad()
def perturbed_deltas(
    model: nn.Module, x: Tensor, noise: Tensor, weights: Tensor, batch_size: int = 25
) -> tuple[Tensor, Tensor]:
    """``f(x)`` and ``Δf_k = f(x) − f(x − I_k)`` for several pixel-weight functions at once.

    Args:
        model: logits model (B, C, H, W) -> (B, 1, H, W), eval mode.
        x: (1, C, H, W) input.
        noise: (n, C, H, W) perturbations ``I``.
        weights: (m, H, W) pixel weights ``W_j`` (e.g. :func:`pixel_weights`), one per function.
        batch_size: perturbed inputs per forward.

    Returns:
        ``f(x)`` (m,) float64 and ``Δf`` (n, m) float64.
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be (1, C, H, W), got {tuple(x.shape)}")
    if noise.shape[1:] != x.shape[1:]:
        raise ValueError(f"noise {tuple(noise.shape)} does not match x {tuple(x.shape)}")
    if weights.ndim != 3 or weights.shape[1:] != x.shape[-2:]:
        raise ValueError(f"weights must be (m, H, W) with H, W of x, got {tuple(weights.shape)}")
    w = weights.to(device=x.device, dtype=torch.float64).flatten(1)  # (m, HW)

    def f(batch: Tensor) -> Tensor:
        z = model(batch)[:, 0].flatten(1).to(torch.float64)  # (b, HW)
        return z @ w.T  # (b, m)

    fx = f(x)[0]
    out = [fx - f(x - noise[i : i + batch_size].to(x)) for i in range(0, len(noise), batch_size)]
    return fx.cpu(), torch.cat(out).cpu()


def broadcast_map(attr: Tensor | np.ndarray, channels: int = 3) -> Tensor:
    """A map as (C, H, W): model maps pass through, layer maps (H, W) are repeated per channel."""
    a = torch.as_tensor(np.asarray(attr) if not isinstance(attr, Tensor) else attr)
    if a.ndim == 2:
        return a.unsqueeze(0).expand(channels, *a.shape)
    if a.ndim == 3 and a.shape[0] in (1, channels):
        return a.expand(channels, *a.shape[1:])
    raise ValueError(f"map must be (H, W) or ({channels}, H, W), got {tuple(a.shape)}")


def projections(maps: Tensor, noise: Tensor) -> Tensor:
    """``a[j, k] = ⟨Φ_j, I_k⟩`` in float64.

    Args:
        maps: (k, C, H, W) model maps or (k, H, W) layer maps (broadcast over C, module doc).
        noise: (n, C, H, W).

    Returns:
        (k, n) float64.
    """
    b = noise.to(device=maps.device, dtype=torch.float64)
    if maps.ndim == 3:  # layer maps: ⟨L ⊗ 1_C, I⟩ = ⟨L, Σ_c I_c⟩
        b = b.sum(dim=1)
    elif maps.ndim != 4 or maps.shape[1] != noise.shape[1]:
        raise ValueError(f"maps {tuple(maps.shape)} do not match noise {tuple(noise.shape)}")
    if maps.shape[-2:] != noise.shape[-2:]:
        raise ValueError(f"maps {tuple(maps.shape)} do not match noise {tuple(noise.shape)}")
    a = maps.to(torch.float64).flatten(1)
    return (a @ b.flatten(1).T).cpu()


def infidelity_scores(proj: Tensor, delta: Tensor) -> dict[str, Tensor]:
    """Captum's infidelity for several maps sharing the same draws, both settings.

    Args:
        proj: (k, n) projections ``a`` (:func:`projections`).
        delta: (n,) or (k, n) function changes ``b`` (per map when maps explain different
            functions).

    Returns:
        dict of (k,) float64: ``infidelity`` (normalize=False), ``infidelity_normalized``,
        ``beta`` (the normalize rescaling), ``zero`` (``E[Δf²]``), ``skill``, ``skill_normalized``.
    """
    a = proj.to(torch.float64)
    b = delta.to(torch.float64)
    if b.ndim == 1:
        b = b.unsqueeze(0).expand_as(a)
    if a.shape != b.shape:
        raise ValueError(f"projections {tuple(a.shape)} and deltas {tuple(b.shape)} differ")
    n = a.shape[1]
    saa, sab, sbb = (a * a).sum(1), (a * b).sum(1), (b * b).sum(1)
    beta = sab / torch.where(saa == 0, torch.ones_like(saa), saa)  # Captum safe_div
    raw = ((a - b) ** 2).sum(1) / n
    norm = (beta * beta * saa - 2 * beta * sab + sbb) / n
    zero = sbb / n
    safe_zero = torch.where(zero == 0, torch.ones_like(zero), zero)
    nan = torch.full_like(zero, float("nan"))
    return {
        "infidelity": raw,
        "infidelity_normalized": norm,
        "beta": beta,
        "zero": zero,
        "skill": torch.where(zero == 0, nan, 1 - raw / safe_zero),
        "skill_normalized": torch.where(zero == 0, nan, 1 - norm / safe_zero),
    }


def chance_skill(n_perturb_samples: int, normalize: bool) -> float:
    """Expected skill of a map unrelated to ``f``: 0 unnormalized, ``1/n`` normalized.

    With ``normalize=True`` skill is the squared cosine between ``a`` and ``b`` in R^n; for ``a``
    isotropic and independent of ``b`` it is Beta(1/2, (n−1)/2) with mean ``1/n``.
    """
    return 1.0 / n_perturb_samples if normalize else 0.0


@dataclass(frozen=True)
class ScoredMap:
    """One map to score: its key, the map, and which pixel-weight function it explains."""

    key: str  # e.g. "model/saliency" or "layer/gradcam/encoder1"
    attr: Tensor  # (C, H, W) or (H, W)
    function: int = 0  # row of the weights passed to :func:`score_maps`


def score_maps(
    model: nn.Module,
    x: Tensor,
    maps: Iterable[ScoredMap],
    weights: Tensor,
    sigmas: Iterable[float],
    n_perturb_samples: int,
    seed: int,
    batch_size: int = 25,
) -> list[dict[str, Any]]:
    """Infidelity of every map of one image, sharing the perturbed forwards across maps.

    Args:
        model: logits model, eval mode, on ``x``'s device.
        x: (1, C, H, W) input in [0, 1].
        maps: the maps of this image.
        weights: (m, H, W) pixel weights of the functions the maps explain.
        sigmas: Gaussian σ values.
        n_perturb_samples: draws per σ.
        seed: this image's seed (:func:`image_seed`).
        batch_size: perturbed inputs per forward.

    Returns:
        one record per (σ, map): ``{sigma, key, function, infidelity, infidelity_normalized,
        beta, zero, skill, skill_normalized, map_l2}``.
    """
    maps = list(maps)
    if not maps:
        return []
    shape = tuple(x.shape[1:])
    std = standard_noise(shape, n_perturb_samples, seed)
    model_maps = [m for m in maps if m.attr.ndim == 3]
    layer_maps = [m for m in maps if m.attr.ndim == 2]
    if len(model_maps) + len(layer_maps) != len(maps):
        raise ValueError("every map must be (C, H, W) or (H, W)")
    records: list[dict[str, Any]] = []
    for sigma in sigmas:
        noise = std * float(sigma)
        _, delta = perturbed_deltas(model, x, noise, weights, batch_size)  # (n, m)
        for group in (model_maps, layer_maps):
            if not group:
                continue
            stacked = torch.stack([torch.as_tensor(m.attr) for m in group]).to(torch.float32)
            proj = projections(stacked, noise)
            fn = torch.tensor([m.function for m in group])
            scores = infidelity_scores(proj, delta[:, fn].T)
            l2 = stacked.to(torch.float64).flatten(1).norm(dim=1)
            if stacked.ndim == 3:  # layer maps count once per channel under the convention
                l2 = l2 * np.sqrt(shape[0])
            for j, m in enumerate(group):
                rec = {"sigma": float(sigma), "key": m.key, "function": m.function}
                rec.update({k: float(v[j]) for k, v in scores.items()})
                rec["map_l2"] = float(l2[j])
                records.append(rec)
    return records


# ---------------------------------------------------------------------------------------------
# Captum-compatible perturbation (for checks against captum.metrics.infidelity)


def captum_perturb_func(sigma: float, seed: int) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """A ``perturb_func`` for ``captum.metrics.infidelity`` drawing the same ``I`` as
    :func:`score_maps` (one input example, ``max_examples_per_batch=None``): returns ``(I, x − I)``.
    """

    def perturb(inputs: Tensor) -> tuple[Tensor, Tensor]:
        noise = gaussian_perturbation(tuple(inputs.shape[1:]), inputs.shape[0], sigma, seed)
        noise = noise.to(inputs)
        return noise, inputs - noise

    return perturb


# ---------------------------------------------------------------------------------------------
# sensitivity


def _uniform_ball(seed: int) -> Callable[[Any, float], Tensor]:
    """Captum's default sensitivity perturbation (uniform in the L∞ ball) with its own generator."""
    gen = torch.Generator().manual_seed(int(seed))

    def perturb(inputs: Any, perturb_radius: float) -> Tensor:
        t = inputs[0] if isinstance(inputs, tuple) else inputs
        u = torch.rand(t.shape, generator=gen, dtype=torch.float32)
        return t + ((2 * u - 1) * perturb_radius).to(t)

    return perturb


def tuple_explainer(explain_fn: Callable[[Tensor], Tensor]) -> Callable[..., tuple[Tensor]]:
    """Adapt ``explain_fn(x (1, C, H, W)) -> map`` for ``sensitivity_max``.

    ``sensitivity_max`` calls the explanation with a tuple of inputs (first call) or a batch of
    perturbed inputs, under ``torch.no_grad``, and needs a tuple back (DESIGN §3): this wrapper
    unpacks, re-enables gradients, runs one input at a time and returns ``(maps,)``.
    """

    def fn(inputs: Tensor | tuple[Tensor, ...], **kwargs: Any) -> tuple[Tensor]:
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}; bind them in explain_fn")
        x = inputs[0] if isinstance(inputs, tuple) else inputs
        with torch.enable_grad():
            out = [explain_fn(x[i : i + 1]).detach() for i in range(x.shape[0])]
        return (torch.cat(out),)

    return fn


def sensitivity(
    explain_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    radius: float,
    n_samples: int,
    seed: int,
) -> float:
    """Captum ``sensitivity_max`` of ``explain_fn`` at ``x`` (1, C, H, W), Frobenius norm ratio.

    ``max_k ‖Φ(x + u_k) − Φ(x)‖ / ‖Φ(x)‖`` over ``n_samples`` draws ``u_k ~ U[−r, r]``.
    """
    from captum.metrics import sensitivity_max

    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be (1, C, H, W), got {tuple(x.shape)}")
    value = sensitivity_max(
        tuple_explainer(explain_fn),
        x,
        perturb_func=_uniform_ball(seed),
        perturb_radius=radius,
        n_perturb_samples=n_samples,
    )
    return float(value.reshape(-1)[0])


# ---------------------------------------------------------------------------------------------
# aggregation (fragility.json)


def sigma_key(sigma: float) -> str:
    """JSON key of a σ without dots (DVC flattens metric keys with dots): 0.03 -> ``sigma_0p03``."""
    return "sigma_" + f"{sigma:g}".replace(".", "p").replace("-", "m")


def _skill_verdict(skill: Mapping[str, Any], chance: float, normalize: bool) -> str:
    lo, hi = skill["ci_low"], skill["ci_high"]
    ref = "chance (1/n_perturb_samples)" if normalize else "an empty map"
    if lo is None:
        return "no images"
    if hi < chance:
        return f"worse than {ref}"
    if lo <= chance:
        return f"no better than {ref}"
    return f"better than {ref}"


def _map_block(sub: Any, n_boot: int, seed: int, chance: float, normalize: bool) -> dict[str, Any]:
    """Summary of one map (method or layer × method) over images; ``sub`` is a DataFrame."""
    infd = sub["infidelity"].to_numpy(dtype=np.float64)
    zero = sub["zero"].to_numpy(dtype=np.float64)
    moved = zero > 0  # an image whose f never moved under the draws has no skill to score
    skill = ratio_skill(infd[moved], zero[moved], n_boot, seed)
    per_image = sub["skill"].to_numpy(dtype=np.float64)[moved]
    modes = sorted(set(sub["mode"].astype(str)))
    functions = sorted(set(sub["scored_function"].astype(str)))
    return {
        "infidelity": summary(infd, n_boot, seed),
        "zero_infidelity": summary(zero, n_boot, seed),
        "skill": skill,
        "skill_per_image_median": float(np.median(per_image)) if len(per_image) else None,
        "chance_skill": chance,
        "no_better_than_empty_map": bool(skill["ci_low"] is not None and skill["ci_low"] <= 0),
        "no_better_than_chance": bool(skill["ci_low"] is not None and skill["ci_low"] <= chance),
        "verdict": _skill_verdict(skill, chance, normalize),
        "map_l2_median": float(sub["map_l2"].median()) if len(sub) else None,
        "mode": modes[0] if len(modes) == 1 else modes,
        "scored_function": functions[0] if len(functions) == 1 else functions,
        "function_mismatch": bool(sub["function_mismatch"].any()),
    }


def _aligned(sub: Any, names: Sequence[str], col: str, by: str) -> dict[str, np.ndarray]:
    """name -> per-image ``col`` over the images every name has (same order)."""
    wide = sub.pivot_table(index="id", columns=by, values=col, aggfunc="first")
    wide = wide[[n for n in names if n in wide.columns]].dropna()
    return {n: wide[n].to_numpy(dtype=np.float64) for n in wide.columns}


def aggregate_infidelity(
    df: Any,
    layer_order: Sequence[str],
    n_perturb_samples: int,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """The infidelity tables from per-image rows.

    Args:
        df: long DataFrame, one row per image × σ × normalize × map, columns ``id, sigma,
            normalize, level, method, layer, mode, scored_function, function_mismatch,
            infidelity, zero, skill, map_l2``.
        layer_order: layer names in network order (encoder1 … decoder5).
        n_perturb_samples: draws per σ (sets the normalized chance skill).

    Returns:
        ``{sigma_<σ>: {sigma, unnormalized|normalized: {model: {method: block}, layer:
        {layer_method: {layer: block}}, pairwise_model, pairwise_layer,
        pairwise_layer_method_overall}}}``; pairwise tests compare infidelity per image
        (equivalently skill, the zero score being shared), Wilcoxon + Holm within each family.
    """
    out: dict[str, Any] = {}
    for sigma in sorted(set(df["sigma"])):
        sblock: dict[str, Any] = {"sigma": float(sigma)}
        for normalize in (False, True):
            sub = df[(df["sigma"] == sigma) & (df["normalize"] == normalize)]
            chance = chance_skill(n_perturb_samples, normalize)
            block: dict[str, Any] = {"model": {}, "layer": {}}
            model = sub[sub["level"] == "model"]
            methods = list(dict.fromkeys(model["method"]))
            for m in methods:
                block["model"][m] = _map_block(
                    model[model["method"] == m], n_boot, seed, chance, normalize
                )
            block["pairwise_model"] = pairwise_tests(
                _aligned(model, methods, "infidelity", "method"), alpha
            )
            layer = sub[sub["level"] == "layer"].copy()
            lmethods = list(dict.fromkeys(layer["method"]))
            for lm in lmethods:
                per = layer[layer["method"] == lm]
                block["layer"][lm] = {
                    k: _map_block(per[per["layer"] == k], n_boot, seed, chance, normalize)
                    for k in layer_order
                    if k in set(per["layer"])
                }
            layer["name"] = layer["method"] + "@" + layer["layer"].astype(str)
            names = [f"{lm}@{k}" for k in layer_order for lm in lmethods]
            pairs = [
                (f"{a}@{k}", f"{b}@{k}")
                for k in layer_order
                for i, a in enumerate(lmethods)
                for b in lmethods[i + 1 :]
            ]
            values = _aligned(layer, names, "infidelity", "name")
            pairs = [p for p in pairs if p[0] in values and p[1] in values]
            block["pairwise_layer"] = pairwise_tests(values, alpha, pairs=pairs)
            overall = layer.groupby(["id", "method"])["infidelity"].mean().unstack().dropna()
            block["pairwise_layer_method_overall"] = pairwise_tests(
                {c: overall[c].to_numpy() for c in lmethods if c in overall.columns},
                alpha,
                what="infidelity averaged over layers",
            )
            sblock["normalized" if normalize else "unnormalized"] = block
        out[sigma_key(float(sigma))] = sblock
    return out


def aggregate_sensitivity(
    df: Any, layer_order: Sequence[str], n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict[str, Any]:
    """Sensitivity tables from per-image rows (``id, level, method, layer, sensitivity``).

    Returns ``{model: {method: summary}, layer: {layer_method: {layer: summary}},
    pairwise_model}`` (lower = more stable).
    """
    out: dict[str, Any] = {"model": {}, "layer": {}, "pairwise_model": {}}
    if len(df) == 0:
        return out
    model = df[df["level"] == "model"]
    methods = list(dict.fromkeys(model["method"]))
    for m in methods:
        vals = model.loc[model["method"] == m, "sensitivity"].to_numpy(dtype=np.float64)
        out["model"][m] = summary(vals, n_boot, seed)
    out["pairwise_model"] = pairwise_tests(
        _aligned(model, methods, "sensitivity", "method"), alpha, what="sensitivity"
    )
    layer = df[df["level"] == "layer"]
    for lm in dict.fromkeys(layer["method"]):
        per = layer[layer["method"] == lm]
        out["layer"][lm] = {
            k: summary(per.loc[per["layer"] == k, "sensitivity"].to_numpy(np.float64), n_boot, seed)
            for k in layer_order
            if k in set(per["layer"])
        }
    return out
