"""The infidelity rows of the results table, from the per-image fragility rows.

Rows never mix modes: a method whose images have several modes (e.g. ``sampled(32)`` on most
images, ``exact`` on one whose border has ≤ 32 pixels) gets one row per mode, named
``<method>[<mode>]`` (:func:`row_names`). Each map row (one σ, normalize setting and, for layer
maps, convention) is keyed ``Key("infidelity", quantity, level, method, layer, name=<row name>,
mode, sigma, normalize, convention)`` (``convention`` null at model level) with quantities:

- ``infidelity`` (mean), ``zero_infidelity`` (mean of ``E[Δf²]``), ``skill`` (ratio of means
  ``1 − ΣINFD/ΣE[Δf²]`` over the images whose function moved), ``skill_per_image`` (mean and
  median);
- points: ``map_l2_median``, ``proj_rms_ratio_median`` (medians over images; a map is *tiny*
  when the latter is below :data:`TINY_RMS_RATIO`), ``function_mismatch`` (images whose map
  explains another function than it was scored against), and one ``scored_function`` row per
  function the map was scored against (key column ``function``; value: its images);
- per σ and normalize setting, the point ``Key("infidelity", quantity="chance_skill", sigma,
  normalize)``: the skill of a map unrelated to ``f`` (0 unnormalized, ``1/n_perturb_samples``
  normalized; the verdicts' reference).

Paired tests (family ``pairwise``, key ``Key("infidelity", level, sigma, normalize,
convention)``): every pair of model rows; at each layer, every pair of rows of two layer methods.
A pair is tested on infidelity only when both were scored against the same function on every
image, otherwise on skill, each map against its own zero-map baseline (:func:`pair_specs`; each
test records its ``basis``). Per layer method the point ``layer_ranking_spearman`` (key
``Key("infidelity", level="layer", method, sigma, normalize=True)``): Spearman's ρ between the
normalized skills of its layers under the two conventions (null with ≤ 2 layers).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from seginterp.evaluate.infidelity import chance_skill
from seginterp.evaluate.layer_infidelity import ACTIVATION, PAPER_BILINEAR
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Row, estimate, point, ratio, tests
from seginterp.evaluate.stats import PairSpec

TINY_RMS_RATIO = 0.01
"""A map is *tiny* when its median ``rms⟨Φ,I⟩ / rms Δf`` is below this: its unnormalized skill
is then within ±0.0201 of 0 whatever its pattern (``|skill| ≤ 2r + r²``)."""

BASIS_INFIDELITY = "infidelity (both maps scored against the same function on every image)"
BASIS_SKILL = "skill (each map against its own zero-map baseline: their functions differ)"
SPEARMAN = "layer_ranking_spearman"
"""Quantity of the ρ between the layer rankings of the two conventions."""


def sigma_key(sigma: float) -> str:
    """JSON key of a σ without dots (DVC flattens metric keys with dots): 0.03 -> ``sigma_0p03``."""
    return "sigma_" + f"{sigma:g}".replace(".", "p").replace("-", "m")


def row_names(df: pd.DataFrame) -> pd.Series:
    """The summary row of each fragility row: ``method`` (``method@layer`` for layer maps), or
    ``<that>[<mode>]`` when the map has several modes across images."""
    base = df["method"].where(df["level"] == "model", df["method"] + "@" + df["layer"].astype(str))
    n_modes = df.groupby(base)["mode"].transform("nunique")
    return base.where(n_modes <= 1, base + "[" + df["mode"].astype(str) + "]")


def pair_specs(sub: pd.DataFrame, pairs: Sequence[tuple[str, str]]) -> list[PairSpec]:
    """The paired comparison of each pair of rows ``(a, b)`` over their common images, on
    infidelity when every common image scored both against the same function, else on skill;
    none for a pair without common images."""
    out = []
    for a, b in pairs:
        wide = sub[sub["row"].isin([a, b])].pivot_table(
            index="id",
            columns="row",
            values=["infidelity", "skill", "scored_function"],
            aggfunc="first",
        )
        if a not in wide["infidelity"].columns or b not in wide["infidelity"].columns:
            continue
        wide = wide.dropna()
        if not len(wide):
            continue
        fa, fb = wide["scored_function"][a].astype(str), wide["scored_function"][b].astype(str)
        same = bool((fa == fb).all())
        what, basis = ("infidelity", BASIS_INFIDELITY) if same else ("skill", BASIS_SKILL)
        x, y = wide[what][a].to_numpy(np.float64), wide[what][b].to_numpy(np.float64)
        out.append(PairSpec(a, b, x, y, what, same, basis))
    return out


def map_rows(sub: pd.DataFrame, key: Key, n_boot: int, seed: int) -> list[Row]:
    """The estimates of one map row (one map, one mode, one setting) over its images."""
    infd = sub["infidelity"].to_numpy(dtype=np.float64)
    zero = sub["zero"].to_numpy(dtype=np.float64)
    moved = zero > 0  # an image whose f never moved under the draws has no skill to score
    per_image = sub["skill"].to_numpy(dtype=np.float64)[moved]
    functions = sub["scored_function"].astype(str).value_counts()
    n = len(sub)
    ceiling = []
    if "ceiling_infidelity" in sub and sub["ceiling_infidelity"].notna().all():
        ceil = sub["ceiling_infidelity"].to_numpy(dtype=np.float64)[moved]
        ceiling.append(ratio(key.but(quantity="ceiling_skill"), ceil, zero[moved], n_boot, seed))
    return [
        estimate(key.but(quantity="infidelity"), infd, "mean", n_boot, seed),
        estimate(key.but(quantity="zero_infidelity"), zero, "mean", n_boot, seed),
        ratio(key.but(quantity="skill"), infd[moved], zero[moved], n_boot, seed),
        estimate(key.but(quantity="skill_per_image"), per_image, "mean", n_boot, seed),
        estimate(key.but(quantity="skill_per_image"), per_image, "median", n_boot, seed),
        point(key.but(quantity="map_l2_median"), float(sub["map_l2"].median()), n),
        point(key.but(quantity="proj_rms_ratio_median"), float(sub["proj_rms_ratio"].median()), n),
        point(key.but(quantity="function_mismatch"), float(sub["function_mismatch"].sum()), n),
        *(
            point(key.but(quantity="scored_function", function=f), float(functions[f]), n)
            for f in sorted(functions.index)
        ),
        *ceiling,
    ]


def _map_key(sub: pd.DataFrame, sigma: float, normalize: bool, convention: str | None) -> Key:
    first = sub.iloc[0]
    return Key(
        "infidelity",
        level=str(first["level"]),
        method=str(first["method"]),
        layer=None if first["level"] == "model" else str(first["layer"]),
        name=str(first["row"]),
        mode=str(first["mode"]),
        sigma=sigma,
        normalize=normalize,
        convention=convention,
    )


def _layer_rows(
    layer: pd.DataFrame, m: Measured, sigma: float, normalize: bool, conv: str
) -> list[Row]:
    """The layer rows of one convention (network order) and their family: at each layer,
    every pair of rows of two layer methods."""
    cfg, out, pairs = m.cfg, [], []
    layer = layer.assign(row=row_names(layer))
    for k in m.layer_order:
        here = layer[layer["layer"] == k]
        per: dict[str, list[str]] = {}  # method -> rows at this layer
        for lm in dict.fromkeys(here["method"]):
            for r in dict.fromkeys(here.loc[here["method"] == lm, "row"]):
                one = here[here["row"] == r]
                out += map_rows(one, _map_key(one, sigma, normalize, conv), cfg.bootstrap, cfg.seed)
                per.setdefault(lm, []).append(r)
        methods = list(per)
        for i, m1 in enumerate(methods):
            for m2 in methods[i + 1 :]:
                pairs += [(a, b) for a in per[m1] for b in per[m2]]
    family = Key("infidelity", level="layer", sigma=sigma, normalize=normalize, convention=conv)
    return out + tests(family, "pairwise", pair_specs(layer, pairs), cfg.alpha)


def _setting_rows(sub: pd.DataFrame, m: Measured, sigma: float, normalize: bool) -> list[Row]:
    """The rows of one σ and normalize setting: the chance skill, the model rows and their
    family (every pair of rows), then the layer rows of each convention."""
    chance = chance_skill(m.cfg.n_perturb_samples, normalize)
    setting = Key("infidelity", quantity="chance_skill", sigma=sigma, normalize=normalize)
    cfg, out = m.cfg, [point(setting, chance)]
    model = sub[sub["level"] == "model"]
    model = model.assign(row=row_names(model))
    names = list(dict.fromkeys(model["row"]))
    for r in names:
        here = model[model["row"] == r]
        out += map_rows(here, _map_key(here, sigma, normalize, None), cfg.bootstrap, cfg.seed)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    family = Key("infidelity", level="model", sigma=sigma, normalize=normalize)
    out += tests(family, "pairwise", pair_specs(model, pairs), cfg.alpha)
    for conv in (ACTIVATION, PAPER_BILINEAR):
        layer = sub[(sub["level"] == "layer") & (sub["convention"] == conv)]
        out += _layer_rows(layer, m, sigma, normalize, conv)
    return out


def _skills(rows: Sequence[Row], conv: str) -> dict[str, dict[str, float | None]]:
    """layer method -> {row name after ``@``: skill (ratio of means)} under ``conv``, in table
    order."""
    out: dict[str, dict[str, float | None]] = {}
    for r in rows:
        if r.get("stat") == "ratio_of_means" and r["level"] == "layer" and r["convention"] == conv:
            out.setdefault(r["method"], {})[r["name"].split("@", 1)[1]] = r["estimate"]
    return out


def ranking_rows(rows: Sequence[Row], sigma: float) -> list[Row]:
    """Per layer method, Spearman's ρ between its layers' normalized skills (ratio of means:
    unchanged when a layer's units are rescaled, unlike the unnormalized ones) under the two
    conventions (``rows``: one σ's normalized rows); null with ≤ 2 layers."""
    act, paper = _skills(rows, ACTIVATION), _skills(rows, PAPER_BILINEAR)
    out = []
    for method, per in act.items():
        pap = paper.get(method, {})
        common = [k for k in per if k in pap]
        rho = None
        if len(common) > 2:
            rho = float(spearmanr([per[k] for k in common], [pap[k] for k in common]).statistic)
        key = Key("infidelity", quantity=SPEARMAN, level="layer", method=method, sigma=sigma,
                  normalize=True)  # fmt: skip
        out.append(point(key, rho if rho is not None and np.isfinite(rho) else None, len(common)))
    return out


def rows(m: Measured) -> list[Row]:
    """Every infidelity estimate and test of ``m.frag`` (see the module doc), σ ascending,
    unnormalized then normalized; none without fragility rows."""
    df, out = m.frag, []
    if not len(df):
        return out
    for sigma in sorted(set(df["sigma"])):
        at, s = df[df["sigma"] == sigma], float(sigma)
        unnorm, norm = (_setting_rows(at[at["normalize"] == nz], m, s, nz) for nz in (False, True))
        out += [*unnorm, *norm, *ranking_rows(norm, s)]
    return out
