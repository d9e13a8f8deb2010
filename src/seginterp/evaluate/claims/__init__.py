"""The paper's claims, one verdict each: ``claims.json`` and its Markdown table.

Every claim is one :class:`ClaimSpec` (id, text, source, the paper's figures, its tests, its
judge) in the registry :data:`CLAIMS`. A claim's statistics are computed on the results side
(:func:`claim_rows`: its estimates and test families at ``Key("claim", name=<row id>)``, one of
the parts of :data:`seginterp.evaluate.results.build.BUILDERS`); its verdict is read back from
the results table (:func:`claims_document`), computing nothing. The rows of claims.json are made
from the specs only, so a claim has the same id and text whether or not any image could be
explained. Claims on the paper's tables are in :mod:`.tables`, claims on where the maps put their
mass in :mod:`.regions`.

A verdict is ``held`` when the claimed direction is statistically supported (paired Wilcoxon
tests at ``alpha``, Holm within a claim's family, and for region claims also against the
randomized-weights null), ``not held`` when a test significantly contradicts it, ``inconclusive``
otherwise (no significant result, too few images, no paper figure, a method not computed, no
explained image).
"""

from __future__ import annotations

from seginterp.evaluate.claims.base import VERDICTS, ClaimSpec, Verdict
from seginterp.evaluate.claims.document import (
    claim_rows,
    claims_document,
    claims_markdown,
    pooled_claims_document,
)
from seginterp.evaluate.claims.registry import CLAIMS

__all__ = [
    "CLAIMS",
    "VERDICTS",
    "ClaimSpec",
    "Verdict",
    "claim_rows",
    "claims_document",
    "claims_markdown",
    "pooled_claims_document",
]
