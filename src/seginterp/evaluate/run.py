"""The evaluate stage as one call: :func:`evaluate_dataset`.

Reads the attribute stage's maps and measures them with every registered metric
(:mod:`seginterp.evaluate.metrics`, :func:`seginterp.evaluate.measure.measure`), one table each:

- fragility table: one row per image × σ × normalize × map (infidelity, zero-map score
  ``E[Δf²]``, skill, β, map L2, mode, the function it was scored against); the layer maps'
  activation-space rows in their own table (layer_fragility, on ``layer_images`` images);
- sensitivity table: one row per image × map on up to ``sensitivity_max_images`` images;
- regions table: one row per image × map (mass on band / inside / outside);
- sanity table: one row per image × model-level method (trained vs randomized weights);
- regions_baseline table: the region rows of the reference-based maps under the second baseline
  on ``null_images`` images (:mod:`seginterp.evaluate.baseline`);
- regions_null table: the region rows of the trained and the randomized model's maps of the same
  functions on ``null_images`` images (:data:`seginterp.evaluate.regions.NULL_METRIC`);
- the results table: every estimate and test over those tables, computed once
  (:mod:`seginterp.evaluate.results`, written as ``results.parquet``);
- the metrics documents as views of it (:mod:`seginterp.evaluate.render`): fragility, regions,
  sanity, claims (claims.json, claims.md: :mod:`seginterp.evaluate.claims`), summary, methods;
- under ``plots_dir``: figures/maps.png, figures/layers_<method>.png, and
  layer_infidelity/<method>.csv, layer_regions/<method>.csv (vega plots over layer_index; one
  directory per kind, so dvc.yaml declares each with its own x/y).

Under torchrun the sharded metrics' images (infidelity, regions) are spread across ranks (the
i-th scored image goes to rank i % world) and gathered on rank 0 in image order
(:func:`seginterp.core.distributed.gather_rows`); rank 0 measures the others and does the rest
(results, documents, figures) alone, so the results equal those of one process.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from seginterp.core import distributed as dist
from seginterp.evaluate.claims.document import claims_markdown
from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.figures import ImageRow
from seginterp.evaluate.inputs import EvaluateData, EvaluateInputs, load_inputs
from seginterp.evaluate.measure import choose_images, measure
from seginterp.evaluate.metrics import METRICS
from seginterp.evaluate.paper import paper_figures
from seginterp.evaluate.plots_dir import write_plots_dir
from seginterp.evaluate.render.context import context_of
from seginterp.evaluate.render.documents import documents
from seginterp.evaluate.results import run as facts
from seginterp.evaluate.results.build import results_table
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Results
from seginterp.explain.config import AttributeConfig
from seginterp.explain.layers import layer_table
from seginterp.model.net import resolve_device
from seginterp.model.predictions import read_table


@dataclass
class Evaluation:
    """Rank 0's results: ``tables`` (name -> per-image DataFrame), ``documents`` (name -> metrics
    JSON), ``claims_md`` (claims.md) and the seconds of each part (for the run log: no output
    holds a timing)."""

    tables: dict[str, pd.DataFrame]
    documents: dict[str, dict[str, Any]]
    claims_md: str
    seconds: dict[str, float]

    def summary(self, dataset: str) -> str:
        frag = self.documents["fragility"]
        parts = ", ".join(f"{name} {s:.1f} s" for name, s in self.seconds.items())
        return (
            f"{dataset}: {frag['n_evaluated']} images scored ({frag['n_without_border']} without "
            f"border); {parts}"
        )


def _concat(*tables: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``tables`` (one schema; an empty table adds nothing)."""
    kept = [t for t in tables if len(t)]
    return pd.concat(kept, ignore_index=True) if kept else tables[0]


def _parts_dir(out: Path, name: str) -> Path:
    return out.parent / f".{out.name}.{name}._parts"


def _figures(
    data: EvaluateData,
    cfg: EvaluateConfig,
    acfg: AttributeConfig,
    res: Results | None,
    plots_dir: Path,
    layer_order: Sequence[str],
) -> None:
    """The map figures of a few images and the per-layer plot tables (:mod:`.plots_dir`)."""
    shown = [data.todo[j] for j in choose_images(len(data.todo), cfg.figure_images)]
    stored = [data.stored(ref) for ref in shown]
    rows = [
        ImageRow(
            ref.id,
            np.asarray(data.images[ref.index]),
            np.asarray(data.truths[ref.index]),
            np.asarray(data.preds[ref.index]),
            s.border,
        )
        for ref, s in zip(shown, stored, strict=True)
    ]
    attributed = {"methods": acfg.methods, "layer_methods": acfg.layer_methods,
                  "layers": acfg.layers}  # fmt: skip
    write_plots_dir(plots_dir, rows, stored, attributed, layer_order, res, cfg.infidelity_sigma[0])


def evaluate_dataset(
    dataset: str,
    inputs: EvaluateInputs,
    cfg: EvaluateConfig,
    acfg: AttributeConfig,
    *,
    out: Path,
    plots_dir: Path,
    paper: str | None = None,
) -> Evaluation | None:
    """Score the stored maps of one dataset (module doc); write the figures and plot tables.

    Args:
        dataset: name for progress bars and messages.
        inputs: the upstream outputs.
        cfg, acfg: the dataset's evaluate and attribute parameters.
        out: the directory the caller writes the tables to (torchrun parts go beside it).
        plots_dir: where the figures and plot tables are written.
        paper: the paper dataset (``kvasir-seg``, ``ham10000``) whose figures the claims quote;
            default ``dataset``; other names have no paper figure.

    Returns:
        the tables and documents on rank 0 (and in a single process), None on other ranks.
    """
    t_start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    data = load_inputs(inputs, acfg, dist.local_device(resolve_device(cfg.device)))
    acfg = data.explainer.cfg  # ``layers: all`` resolved for this model
    measured = measure(data, cfg, acfg, [METRICS.get(name) for name in METRICS],
                       lambda name: _parts_dir(out, name), dataset)  # fmt: skip
    if measured is None:
        return None  # another rank of torchrun: rank 0 does the rest
    tables, seconds = measured
    t0 = time.perf_counter()
    layer_order = tuple(layer_table(data.explainer.model))  # network order
    m = Measured(
        frag=_concat(tables["fragility"], tables["layer_fragility"]),
        sens=tables["sensitivity"],
        regions=tables["regions"],
        null=tables["regions_null"],
        sanity=tables["sanity"],
        segmentation=read_table(inputs.predictions, ["iou", "dice"]),
        layer_order=layer_order,
        cfg=cfg,
        methods=acfg.methods,
        layer_methods=acfg.layer_methods,
        counts=facts.image_counts(data.status, data.n_not_attributed, len(data.todo)),
        refused=data.explainer.refused,
        baseline=tables["regions_baseline"],
        localisation=tables["localisation"],
        complexity=tables["complexity"],
        deletion=tables["deletion"],
        cascade=tables["cascade"],
    )
    tables["results"] = results_table(m)
    seconds["results"] = time.perf_counter() - t0
    res = Results(tables["results"])
    ctx = context_of(res, dataset, paper_figures(paper or dataset), cfg, acfg)
    docs = documents(res, ctx)
    t0 = time.perf_counter()
    _figures(data, cfg, acfg, res if len(m.frag) else None, plots_dir, layer_order)
    seconds["figures"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_start
    return Evaluation(tables, docs, claims_markdown(docs["claims"]), seconds)
