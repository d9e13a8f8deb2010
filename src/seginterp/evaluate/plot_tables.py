"""Per-layer plot data (vega CSVs under ``<plots>/layer_infidelity/`` and ``layer_regions/``).

One CSV per layer method and kind, one row per layer in ``layer_order`` (``layer_index`` is the
x axis dvc.yaml declares), read from the fragility and regions documents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from seginterp.core.io import atomic_path

PLOT_KINDS: tuple[str, ...] = ("layer_infidelity", "layer_regions")
"""The plot directories (dvc.yaml's plots), one CSV per layer method in each."""
COLUMNS: dict[str, tuple[str, ...]] = {
    "layer_infidelity": (
        "layer_index", "layer", "infidelity", "zero_infidelity", "skill",
        "infidelity_normalized", "skill_normalized", "sensitivity",
    ),
    "layer_regions": (
        "layer_index", "layer", "band_share", "inside_share", "outside_share", "band_net_share",
        "inside_net_share", "band_enrichment", "n_claim", "n",
    ),
}  # fmt: skip


def _infidelity_table(
    unnormalized: Mapping[str, Any],
    normalized: Mapping[str, Any],
    sensitivity: Mapping[str, Any],
    layer_order: Sequence[str],
) -> list[dict[str, Any]]:
    """Rows of one layer method: its infidelity blocks and sensitivity summaries per layer."""
    rows = []
    for i, layer in enumerate(layer_order):
        if layer not in unnormalized:
            continue
        u, n, s = unnormalized[layer], normalized[layer], sensitivity.get(layer)
        rows.append(
            {
                "layer_index": i,
                "layer": layer,
                "infidelity": u["infidelity"]["mean"],
                "zero_infidelity": u["zero_infidelity"]["mean"],
                "skill": u["skill"]["mean"],
                "infidelity_normalized": n["infidelity"]["mean"],
                "skill_normalized": n["skill"]["mean"],
                "sensitivity": s["mean"] if s else None,
            }
        )
    return rows


def _regions_table(
    per_layer: Mapping[str, Any], layer_order: Sequence[str]
) -> list[dict[str, Any]]:
    """Rows of one layer method: its region blocks per layer."""
    rows = []
    for i, layer in enumerate(layer_order):
        if layer not in per_layer:
            continue
        b = per_layer[layer]
        rows.append(
            {
                "layer_index": i,
                "layer": layer,
                "band_share": b["band"]["abs_share"]["mean"],
                "inside_share": b["inside"]["abs_share"]["mean"],
                "outside_share": b["outside"]["abs_share"]["mean"],
                "band_net_share": b["band"]["net_share"]["mean"],
                "inside_net_share": b["inside"]["net_share"]["mean"],
                "band_enrichment": b["band"]["enrichment"]["mean"],
                "n_claim": b["n_claim_band_positive_inside_negative"],
                "n": b["n"],
            }
        )
    return rows


def layer_plot_tables(
    fragility: Mapping[str, Any],
    regions: Mapping[str, Any],
    layer_order: Sequence[str],
    sigma_key: str,
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Rows for the per-layer DVC vega plots, one table per kind and layer method.

    Returns ``{("layer_infidelity", method): rows, ("layer_regions", method): rows}`` (the kind
    is the plot directory); every row has ``layer_index`` (0 = encoder1 … along the network) and
    ``layer``. Infidelity rows (σ of ``sigma_key``): ``infidelity``, ``zero_infidelity``,
    ``skill``, ``infidelity_normalized``, ``skill_normalized``, ``sensitivity`` (null when not
    computed). Region rows: ``band_share``, ``inside_share``, ``outside_share`` (abs mass shares),
    ``band_net_share``, ``inside_net_share``, ``band_enrichment``, ``n_claim``, ``n``.
    """
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    block = fragility["infidelity"][sigma_key]
    sens = fragility.get("sensitivity", {}).get("layer", {})
    for method, per_layer in block["unnormalized"]["layer"].items():
        normalized = block["normalized"]["layer"][method]
        out[("layer_infidelity", method)] = _infidelity_table(
            per_layer, normalized, sens.get(method, {}), layer_order
        )
    for method, per_layer in regions["layer"].items():
        out[("layer_regions", method)] = _regions_table(per_layer, layer_order)
    return out


def write_plot_tables(
    plots_dir: Path,
    fragility: Mapping[str, Any],
    regions: Mapping[str, Any],
    layer_order: Sequence[str],
    sigma_key: str,
) -> None:
    """``<plots_dir>/<kind>/<layer method>.csv`` for every table of :func:`layer_plot_tables`."""
    for (kind, method), rows in layer_plot_tables(
        fragility, regions, layer_order, sigma_key
    ).items():
        with atomic_path(plots_dir / kind / f"{method}.csv") as tmp:
            pd.DataFrame(rows, columns=list(COLUMNS[kind])).to_csv(tmp, index=False)


def write_empty_plot_tables(plots_dir: Path, layer_methods: Sequence[str]) -> None:
    """Header-only ``<plots_dir>/<kind>/<layer method>.csv`` (no image was scored)."""
    for kind in PLOT_KINDS:
        for method in layer_methods:
            with atomic_path(plots_dir / kind / f"{method}.csv") as tmp:
                pd.DataFrame(columns=list(COLUMNS[kind])).to_csv(tmp, index=False)
