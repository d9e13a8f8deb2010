"""The registry of the paper's claims: ``CLAIMS``, one :class:`ClaimSpec` per claim.

The specs are declared in :mod:`.tables`, :mod:`.regions` and :mod:`.agreement`; the order here
is the order of the rows of claims.json. A new claim is one spec. An unknown name fails listing
the valid ones.
"""

from __future__ import annotations

from seginterp.core.registry import Registry
from seginterp.evaluate.claims.agreement import SPECS as AGREEMENT_SPECS
from seginterp.evaluate.claims.base import ClaimSpec
from seginterp.evaluate.claims.regions import SPECS as REGION_SPECS
from seginterp.evaluate.claims.tables import SPECS as TABLE_SPECS

CLAIMS: Registry[ClaimSpec] = Registry.of(
    "claim", (*TABLE_SPECS, *REGION_SPECS, *AGREEMENT_SPECS), lambda spec: spec.id
)
