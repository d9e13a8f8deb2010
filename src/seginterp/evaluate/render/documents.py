"""Every metrics document of one evaluation, rendered from the results table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seginterp.evaluate.claims.document import claims_document, pooled_claims_document
from seginterp.evaluate.render.agreement import agreement_document
from seginterp.evaluate.render.context import Context
from seginterp.evaluate.render.fragility import fragility_document
from seginterp.evaluate.render.regions import regions_document
from seginterp.evaluate.render.sanity import sanity_document
from seginterp.evaluate.render.summary import methods_document, summary_document
from seginterp.evaluate.results.table import Results


def documents(
    res: Results, ctx: Context, own: Mapping[int, Mapping[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """name -> document: fragility, regions, sanity, claims, summary, methods and agreement (each
    written to ``metrics/<D>/<name>.json``). ``own``: for a pooled results table, each
    replicate's own claims document (training seed -> document): the claims are then judged by
    :func:`~seginterp.evaluate.claims.pooled_claims_document`."""
    claims = claims_document(res, ctx)
    if own is not None:
        claims = pooled_claims_document(claims, own)
    return {
        "fragility": fragility_document(res, ctx),
        "regions": regions_document(res, ctx),
        "sanity": sanity_document(res, ctx),
        "claims": claims,
        "summary": summary_document(res, ctx, claims),
        "methods": methods_document(res, ctx),
        "agreement": agreement_document(res, ctx),
    }
