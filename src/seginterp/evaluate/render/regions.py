"""regions.json as a view of the results table (:mod:`seginterp.evaluate.results.regions` and
:mod:`seginterp.evaluate.results.null` rows).

The per-map region blocks of the trained model, the band share per layer (``border_focus``: the
band ``abs_share`` means), the encoder depth trend per layer method and the randomized-weights
null (``null``: trained vs randomized band share per map and depth trend per layer method).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seginterp.evaluate.regions import REGIONS, SHARES, encoder_layers
from seginterp.evaluate.render.context import Context
from seginterp.evaluate.results.table import Key, Results

REGIONS_DOC = (
    "band = border dilated by band_width px (4-connected); inside = prediction "
    "minus band; outside = rest; model maps summed over channels"
)


def _count(res: Results, key: Key) -> int:
    """A count (a point row) as an int."""
    value = res.value(key)
    if value is None:
        raise KeyError(f"results: no count {key}")
    return int(value)


def _maps(res: Results, section: str, level: str) -> list[tuple[str, str | None]]:
    """(method, layer) of every map of ``section`` at ``level``, in table order."""
    found = res.select(section=section, level=level, quantity="n", stat="point")
    return [(r["method"], r["layer"]) for r in found]


def region_block(res: Results, key: Key) -> dict[str, Any]:
    """One map's block: ``{n, band|inside|outside: {<share>: summary, …, n_positive,
    n_negative}, n_band_positive, n_inside_negative, n_claim_band_positive_inside_negative[,
    coverage_90][, native_abs_mass]}``."""
    block: dict[str, Any] = {"n": _count(res, key.but(quantity="n"))}
    for r in REGIONS:
        rb: dict[str, Any] = {
            q: res.summary(key.but(quantity=f"{r}_{q}")) for q in (*SHARES, "area_share")
        }
        rb["n_positive"] = _count(res, key.but(quantity=f"{r}_n_positive"))
        rb["n_negative"] = _count(res, key.but(quantity=f"{r}_n_negative"))
        block[r] = rb
    block["n_band_positive"] = block["band"]["n_positive"]
    block["n_inside_negative"] = block["inside"]["n_negative"]
    block["n_claim_band_positive_inside_negative"] = _count(res, key.but(quantity="n_claim"))
    for col in ("coverage_90", "native_abs_mass"):
        if res.get(key.but(quantity=col), "mean") is not None:
            block[col] = res.summary(key.but(quantity=col))
    return block


def _by_method(maps: Sequence[tuple[str, str | None]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for method, layer in maps:
        out.setdefault(method, []).append(str(layer))
    return out


def _depth_trend(res: Results, method: str, layers: Sequence[str], order: Sequence[str]) -> Any:
    key = Key("regions", quantity="depth_rho", level="layer", method=method)
    if res.get(key, "mean") is None:
        return None
    return {
        "layers": encoder_layers(order, layers),
        "n_positive": _count(res, key.but(quantity="depth_rho_n_positive")),
        "n": _count(res, key.but(quantity="depth_rho_n")),
        "rho": res.summary(key),
    }


def region_tables(res: Results, layer_order: Sequence[str]) -> dict[str, Any]:
    """``{model: {method: block}, layer: {layer_method: {layer: block}}, border_focus:
    {layer_method: {layer: band abs_share mean}}, encoder_depth_trend: {layer_method: {layers,
    n_positive, n, rho} or null}}``; empty without a region row."""
    model = _maps(res, "regions", "model")
    layer = _by_method(_maps(res, "regions", "layer"))
    if not model and not layer:
        return {}
    out: dict[str, Any] = {"model": {}, "layer": {}, "border_focus": {}, "encoder_depth_trend": {}}
    for method, _ in model:
        out["model"][method] = region_block(res, Key("regions", level="model", method=method))
    for method, layers in layer.items():
        keys = {k: Key("regions", level="layer", method=method, layer=k) for k in layers}
        out["layer"][method] = {k: region_block(res, key) for k, key in keys.items()}
        out["border_focus"][method] = {
            k: b["band"]["abs_share"]["mean"] for k, b in out["layer"][method].items()
        }
        out["encoder_depth_trend"][method] = _depth_trend(res, method, layers, layer_order)
    return out


def _band(res: Results, key: Key) -> dict[str, Any]:
    """One map's null block: ``{n[, trained, randomized, test]}``."""
    n = _count(res, key.but(quantity="n"))
    share = key.but(quantity="band_abs_share")
    if res.get(share.but(weights="trained"), "mean") is None:
        return {"n": n}
    return {
        "n": n,
        "trained": res.summary(share.but(weights="trained")),
        "randomized": res.summary(share.but(weights="randomized")),
        "test": res.family(key, "band")["trained_vs_randomized"],
    }


def null_tables(res: Results) -> dict[str, Any]:
    """regions.json's ``null``: ``{n_images, model: {method: band}, layer: {method: {layer:
    band}}, encoder_depth_trend: {method: {n, trained, randomized, test}}}``."""
    out: dict[str, Any] = {"n_images": _count(res, Key("regions_null", quantity="n_images"))}
    out.update(model={}, layer={}, encoder_depth_trend={})
    for method, _ in _maps(res, "regions_null", "model"):
        out["model"][method] = _band(res, Key("regions_null", level="model", method=method))
    for method, layers in _by_method(_maps(res, "regions_null", "layer")).items():
        out["layer"][method] = {
            k: _band(res, Key("regions_null", level="layer", method=method, layer=k))
            for k in layers
        }
        key = Key("regions_null", quantity="depth_rho", level="layer", method=method)
        if res.get(key.but(weights="trained"), "mean") is not None:
            out["encoder_depth_trend"][method] = {
                "n": _count(res, key.but(quantity="depth_rho_n")),
                "trained": res.summary(key.but(weights="trained")),
                "randomized": res.summary(key.but(weights="randomized")),
                "test": res.family(key, "depth_trend")["trained_vs_randomized"],
            }
    return out


def regions_document(res: Results, ctx: Context) -> dict[str, Any]:
    """regions.json: the region convention, image counts, the per-map region tables and the
    randomized-weights null."""
    return {
        "band_width": ctx.cfg.band_width,
        "regions": REGIONS_DOC,
        **ctx.counts,
        **region_tables(res, ctx.layer_order),
        "null": null_tables(res),
    }
