"""The pool stage as one call: :func:`pool_replicates`.

A dataset's replicate models (one per training seed in ``replicates``, each trained, explained
and evaluated by its own stages on the same test images) are pooled from their results tables
alone: :func:`seginterp.evaluate.results.pool.pool_tables` makes the pooled table (two-level
intervals over models and images, intersection-union tests), the documents are rendered from it,
and each claim's pooled verdict stands only when every replicate's own verdict agrees
(:data:`seginterp.evaluate.claims.document.AGREEMENT`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from seginterp.evaluate.claims.document import claims_document, claims_markdown
from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.paper import paper_figures
from seginterp.evaluate.render.context import context_of
from seginterp.evaluate.render.documents import documents
from seginterp.evaluate.results.pool import pool_tables
from seginterp.evaluate.results.table import Results
from seginterp.explain.config import AttributeConfig


@dataclass
class Pooled:
    """The pooled results table, the documents (name -> metrics JSON) and claims.md."""

    table: pd.DataFrame
    results: Results
    documents: dict[str, dict[str, Any]]
    claims_md: str


def replicate_tables(evaluations: Path, seeds: Sequence[int]) -> dict[int, pd.DataFrame]:
    """Each replicate's results table, ``<evaluations>/<seed>/results.parquet``.

    Raises ValueError when one is missing, or when ``evaluations`` holds the outputs of a seed
    that is not a replicate (left by an earlier ``replicates`` list): the pool stage depends on
    the whole directory, so such leftovers would enter its dependency hash.
    """
    listed = {str(s) for s in seeds}
    stale = sorted(p.name for p in evaluations.iterdir() if p.is_dir()
                   and not p.name.startswith(".") and p.name not in listed)  # fmt: skip
    if stale:
        raise ValueError(
            f"{evaluations} holds {', '.join(stale)}, not in params.yaml `replicates` "
            f"({', '.join(sorted(listed))}): remove them (rm -r "
            f"{' '.join(str(evaluations / s) for s in stale)}) so that the pool reads only "
            "the listed replicates"
        )
    paths = {s: evaluations / str(s) / "results.parquet" for s in seeds}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise ValueError(f"no results table {', '.join(missing)}: run the evaluate stages first")
    return {s: pd.read_parquet(p) for s, p in paths.items()}


def pool_replicates(
    dataset: str,
    tables: Mapping[int, pd.DataFrame],
    cfg: EvaluateConfig,
    acfg: AttributeConfig,
    paper: str | None = None,
) -> Pooled:
    """Pool the results tables of a dataset's replicate models.

    Args:
        dataset: the dataset's name.
        tables: training seed -> that replicate's results table (results.parquet).
        cfg, acfg: the dataset's evaluate and attribute parameters.
        paper: the paper dataset whose figures the claims quote (default ``dataset``).
    """
    if not tables:
        raise ValueError(f"{dataset}: no replicate to pool (params.yaml `replicates` is empty)")
    figures = paper_figures(paper or dataset)
    own = {}
    for seed, table in tables.items():
        res = Results(table)
        own[seed] = claims_document(res, context_of(res, dataset, figures, cfg, acfg))
    pooled = pool_tables(list(tables.values()))
    res = Results(pooled)
    docs = documents(res, context_of(res, dataset, figures, cfg, acfg), own)
    return Pooled(pooled, res, docs, claims_markdown(docs["claims"]))
