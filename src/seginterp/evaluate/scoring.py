"""The fragility tables of one image: every stored map, every σ, both settings.

Metric ``fragility`` (every scored image): model maps scored in input space (convention
``input``), layer maps under the paper's convention (``paper_bilinear``: upsampled and copied
onto the input channels, input-space noise). Metric ``layer_fragility`` (``layer_images``
images, the costliest part of the stage): each layer's native map in its layer's activation
space (``activation``, :mod:`seginterp.evaluate.layer_infidelity`). Both tables have one schema;
the ``convention`` column tells the rows apart.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.functions import image_functions, image_seed, stored_map_function
from seginterp.evaluate.infidelity import ScoredMap, score_maps
from seginterp.evaluate.layer_infidelity import ACTIVATION, PAPER_BILINEAR, activation_records
from seginterp.evaluate.measure import MeasureContext, Metric, choose_images
from seginterp.evaluate.regions import map_columns
from seginterp.explain.store import ImageMaps

INPUT = "input"


def infidelity_rows(
    model: nn.Module,
    x: Tensor,
    image_id: str,
    index: int,
    stored: ImageMaps,
    cfg: EvaluateConfig,
    modules: dict[str, nn.Module],
    space: str = INPUT,
) -> list[dict[str, Any]]:
    """The fragility table rows of one image: per σ × map, unnormalized then normalized.

    Args:
        model: logits model, eval mode, on ``x``'s device.
        x: (1, C, H, W) the image in [0, 1].
        stored: the image's stored maps (:func:`seginterp.explain.store.read_image`).
        modules: layer name -> module of ``model`` for every stored layer map.
        space: ``input`` (model maps and the layer maps' paper convention) or ``activation``
            (the layer maps' native maps in their activation space).
    """
    if space not in (INPUT, ACTIVATION):
        raise ValueError(f"space must be {INPUT!r} or {ACTIVATION!r}, got {space!r}")
    functions = image_functions(stored)
    scored, native, labels = [], [], {}
    for key, attr in stored.maps.items():
        fn, label, mismatch = stored_map_function(stored.modes[key], functions)
        scored.append(ScoredMap(key, torch.from_numpy(attr), fn))
        labels[key] = (label, mismatch)
        if key.layer is not None:
            if key not in stored.natives:
                raise ValueError(f"{image_id}: no native map stored for {key.label}")
            native.append(ScoredMap(key, torch.from_numpy(stored.natives[key]), fn))
    seed, n = image_seed(cfg.seed, image_id), cfg.n_perturb_samples
    if space == INPUT:
        records = score_maps(model, x, scored, cfg.infidelity_sigma, n, seed, cfg.batch_size,
                             functions)  # fmt: skip
        for r in records:
            r["convention"] = INPUT if r["key"].layer is None else PAPER_BILINEAR
    elif native:
        act = activation_records(
            model, x, native, modules, cfg.infidelity_sigma, n, seed, cfg.batch_size
        )
        records = [{**r, "convention": ACTIVATION} for r in act]
    else:
        records = []
    n_border = int(stored.border.sum())
    rows = []
    for r in records:
        key = r["key"]
        common = {
            **map_columns(image_id, index, key, stored.modes[key]),
            "sigma": r["sigma"],
            "convention": r["convention"],
            "scored_function": labels[key][0],
            "function_mismatch": labels[key][1],
            **{k: r[k] for k in ("zero", "map_l2", "proj_rms_ratio", "perturb_std")},
            "n_border": n_border,
            "n_perturb_samples": cfg.n_perturb_samples,
        }
        for normalize, suffix in ((False, ""), (True, "_normalized")):
            beta = r["beta"] if normalize else None
            infd, skill = r["infidelity" + suffix], r["skill" + suffix]
            row = {
                **common,
                "normalize": normalize,
                "infidelity": infd,
                "skill": skill,
                "beta": beta,
            }
            if "ceiling_infidelity" in r:
                row["ceiling_infidelity"] = r["ceiling_infidelity" + suffix]
            rows.append(row)
    return rows


def _rows(c: MeasureContext) -> list[dict[str, Any]]:
    return infidelity_rows(c.model, c.x, c.ref.id, c.ref.index, c.stored, c.cfg, c.layer_modules())


def _layer_rows(c: MeasureContext) -> list[dict[str, Any]]:
    modules = c.layer_modules()
    return infidelity_rows(c.model, c.x, c.ref.id, c.ref.index, c.stored, c.cfg, modules,
                           ACTIVATION)  # fmt: skip


METRIC = Metric("fragility", _rows, sharded=True)
"""The fragility table: every scored image."""
LAYER_METRIC = Metric(
    "layer_fragility",
    _layer_rows,
    images=lambda n, cfg: choose_images(n, n if cfg.layer_images is None else cfg.layer_images),
    sharded=True,
)
"""The activation-space rows of the layer maps: ``layer_images`` images."""
