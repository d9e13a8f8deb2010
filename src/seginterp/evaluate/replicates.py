"""The pool stage as one call: :func:`pool_replicates`.

A dataset's replicate models (one per training seed in ``replicates``, each trained, explained
and evaluated by its own stages on the same test images) are pooled from their results tables
alone: :func:`seginterp.evaluate.results.pool.pool_tables` makes the pooled table (two-level
intervals over models and images, intersection-union tests), the documents are rendered from it,
and each claim's pooled verdict stands only when every replicate's own verdict agrees
(:data:`seginterp.evaluate.claims.document.AGREEMENT`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from seginterp.evaluate.claims import claims_document, claims_markdown
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
    pooled = pool_tables(list(tables.values()), cfg.bootstrap, cfg.seed)
    res = Results(pooled)
    docs = documents(res, context_of(res, dataset, figures, cfg, acfg), own)
    return Pooled(pooled, res, docs, claims_markdown(docs["claims"]))
