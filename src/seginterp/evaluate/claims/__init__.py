"""The paper's claims, one verdict each: ``claims.json`` and its Markdown table.

Every claim is one :class:`.base.ClaimSpec` (id, text, source, the paper's figures, its tests,
its judge) in the registry :data:`.registry.CLAIMS`: claims on the paper's tables in
:mod:`.tables`, on where the maps put their mass in :mod:`.regions`. A claim's statistics are
results rows (:func:`.document.claim_rows`, a part of
:data:`seginterp.evaluate.results.build.BUILDERS`); its verdict is read back from the results
table (:func:`.document.claims_document`), computing nothing. claims.json rows come from the
specs only, so a claim has the same id and text whether or not any image could be explained.
Verdicts: ``held`` (the claimed direction significant: paired Wilcoxon, Holm within the claim's
family, region claims also against the randomized-weights null), ``not held`` (significantly
contradicted), else ``inconclusive``.
"""
