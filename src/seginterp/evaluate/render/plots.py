"""Plot data (vega CSVs under ``<plots>/layer_infidelity/``, ``layer_regions/`` and
``cascade/``), read from the results table.

Per layer method and kind one CSV, one row per layer in ``layer_order`` (``layer_index`` is the
x axis dvc.yaml declares): infidelity in the activation-space convention at the headline σ (a
layer map with several modes has no single row: it is left out), region shares of the trained
model. Per model-level method one ``cascade`` CSV, one row per step of the cascading
randomisation (``step`` the x axis).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from seginterp.core.io import atomic_path
from seginterp.evaluate.layer_infidelity import ACTIVATION
from seginterp.evaluate.results.table import Key, Results

PLOT_KINDS: tuple[str, ...] = ("layer_infidelity", "layer_regions", "cascade")
"""The plot directories (dvc.yaml's plots), one CSV per (layer) method in each."""
COLUMNS: dict[str, tuple[str, ...]] = {
    "layer_infidelity": (
        "layer_index", "layer", "infidelity", "zero_infidelity", "skill",
        "infidelity_normalized", "skill_normalized", "ceiling", "ceiling_normalized",
        "sensitivity",
    ),
    "layer_regions": (
        "layer_index", "layer", "band_share", "inside_share", "outside_share", "band_net_share",
        "inside_net_share", "band_enrichment", "n_claim", "n",
    ),
    "cascade": ("step", "block", "params_share", "spearman", "spearman_abs", "ssim", "n"),
}  # fmt: skip
_INFIDELITY: dict[str, tuple[str, str, bool]] = {
    "infidelity": ("infidelity", "mean", False),
    "zero_infidelity": ("zero_infidelity", "mean", False),
    "skill": ("skill", "ratio_of_means", False),
    "infidelity_normalized": ("infidelity", "mean", True),
    "skill_normalized": ("skill", "ratio_of_means", True),
    "ceiling": ("ceiling_skill", "ratio_of_means", False),
    "ceiling_normalized": ("ceiling_skill", "ratio_of_means", True),
}
"""Infidelity column -> (quantity, statistic, normalized)."""
_REGIONS: dict[str, str] = {
    "band_share": "band_abs_share",
    "inside_share": "inside_abs_share",
    "outside_share": "outside_abs_share",
    "band_net_share": "band_net_share",
    "inside_net_share": "inside_net_share",
    "band_enrichment": "band_enrichment",
}
"""Region column -> the quantity whose mean over images it shows."""


def _estimate(res: Results, key: Key, stat: str = "mean") -> float | None:
    row = res.get(key, stat)
    return None if row is None else row["estimate"]


def _infidelity_rows(
    res: Results, method: str, layer_order: Sequence[str], sigma: float
) -> list[dict[str, Any]]:
    """Rows of one layer method: its infidelity estimates and mean sensitivity per layer."""
    rows = []
    for i, layer in enumerate(layer_order):
        at = {"section": "infidelity", "name": f"{method}@{layer}", "sigma": sigma,
              "convention": ACTIVATION}  # fmt: skip
        if not res.select(**at, normalize=False, quantity="infidelity"):
            continue
        row: dict[str, Any] = {"layer_index": i, "layer": layer}
        for col, (quantity, stat, normalize) in _INFIDELITY.items():
            found = res.select(**at, normalize=normalize, quantity=quantity, stat=stat)
            row[col] = found[0]["estimate"] if found else None
        sens = Key("sensitivity", "sensitivity", "layer", method, layer)
        rows.append({**row, "sensitivity": _estimate(res, sens)})
    return rows


def _regions_rows(res: Results, method: str, layer_order: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of one layer method: its region estimates per layer."""
    rows = []
    for i, layer in enumerate(layer_order):
        key = Key("regions", level="layer", method=method, layer=layer)
        if res.get(key.but(quantity="n"), "point") is None:
            continue
        row: dict[str, Any] = {"layer_index": i, "layer": layer}
        row.update({c: _estimate(res, key.but(quantity=q)) for c, q in _REGIONS.items()})
        row["n_claim"] = int(res.value(key.but(quantity="n_claim")))
        rows.append({**row, "n": int(res.value(key.but(quantity="n")))})
    return rows


def layer_plot_tables(
    res: Results, layer_order: Sequence[str], sigma: float
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Rows for the per-layer DVC vega plots, one table per kind and layer method.

    Returns ``{("layer_infidelity", method): rows, ("layer_regions", method): rows}`` (the kind
    is the plot directory); every row has ``layer_index`` (0 = encoder1 … along the network) and
    ``layer``. Infidelity rows (σ = ``sigma``): ``infidelity``, ``zero_infidelity``, ``skill``
    (ratio of means), ``infidelity_normalized``, ``skill_normalized``, ``sensitivity`` (null when
    not computed). Region rows: ``band_share``, ``inside_share``, ``outside_share`` (abs mass
    shares), ``band_net_share``, ``inside_net_share``, ``band_enrichment``, ``n_claim``, ``n``.
    """
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    infd = res.select(section="infidelity", level="layer", sigma=sigma, normalize=False,
                      convention=ACTIVATION, quantity="infidelity", stat="mean")  # fmt: skip
    for method in dict.fromkeys(r["method"] for r in infd):
        out[("layer_infidelity", method)] = _infidelity_rows(res, method, layer_order, sigma)
    regions = res.select(section="regions", level="layer", quantity="n", stat="point")
    for method in dict.fromkeys(r["method"] for r in regions):
        out[("layer_regions", method)] = _regions_rows(res, method, layer_order)
    return out


def cascade_plot_tables(res: Results) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """``{("cascade", method): rows}``: per model-level method one row per cascade step (``step``
    1 = the head re-initialized …), with ``block``, ``params_share`` and the mean ``spearman``,
    ``spearman_abs`` and ``ssim`` over images (and their ``n``)."""
    steps = res.select(section="cascade", quantity="params_share", stat="point")
    methods = dict.fromkeys(r["method"] for r in res.select(section="cascade", quantity="ssim"))
    out = {}
    for method in methods:
        rows = []
        for s in steps:
            at = Key("cascade", method=method, layer=s["layer"], name=s["name"])
            row = {"step": int(s["name"].split()[-1]), "block": s["layer"],
                   "params_share": s["estimate"]}  # fmt: skip
            row |= {q: _estimate(res, at.but(quantity=q)) for q in ("spearman", "spearman_abs",
                                                                     "ssim")}  # fmt: skip
            found = res.get(at.but(quantity="ssim"), "mean")
            rows.append({**row, "n": None if found is None else found["n"]})
        out[("cascade", method)] = rows
    return out


def write_plot_tables(
    plots_dir: Path, res: Results, layer_order: Sequence[str], sigma: float
) -> None:
    """``<plots_dir>/<kind>/<method>.csv`` for every table of :func:`layer_plot_tables` and
    :func:`cascade_plot_tables`."""
    tables = layer_plot_tables(res, layer_order, sigma) | cascade_plot_tables(res)
    for (kind, method), rows in tables.items():
        with atomic_path(plots_dir / kind / f"{method}.csv") as tmp:
            pd.DataFrame(rows, columns=list(COLUMNS[kind])).to_csv(tmp, index=False)


def write_empty_plot_tables(plots_dir: Path, layer_methods: Sequence[str]) -> None:
    """Header-only ``<plots_dir>/<kind>/<layer method>.csv`` (no image was scored; the cascade
    directory stays empty)."""
    for kind in PLOT_KINDS[:2]:
        for method in layer_methods:
            with atomic_path(plots_dir / kind / f"{method}.csv") as tmp:
                pd.DataFrame(columns=list(COLUMNS[kind])).to_csv(tmp, index=False)
