"""The claims' rows of the results table, and claims.json / claims.md read back from it (the rows
of every registered claim, :data:`.registry.CLAIMS`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from seginterp.evaluate.claims.base import (
    BEYOND,
    HELD,
    INCONCLUSIVE,
    NOT_HELD,
    PAPER_GROUP,
    SECTION,
    VERDICTS,
    ClaimSpec,
    claim_key,
    inconclusive,
    row_id,
)
from seginterp.evaluate.claims.registry import CLAIMS
from seginterp.evaluate.claims.verdicts import region_rows
from seginterp.evaluate.render.context import Context
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Results, Row, point

NO_IMAGE = "no explainable image"
"""The reason of every claim on the explained images when there is none."""

EXPLAINED = Key(SECTION, quantity="n_fragility_rows")
"""Point row: the fragility rows the claims were judged on (0: nothing was explained)."""


def _subjects(spec: ClaimSpec, m: Measured, judged: bool) -> list[str | None]:
    """The subjects of a claim's rows: None for a claim on the dataset; per method, the methods
    of the region rows when judged, else the methods the run explains with."""
    if spec.per == "dataset":
        return [None]
    if not judged:
        return list(m.methods if spec.per == "method" else m.layer_methods)
    return list(dict.fromkeys(region_rows(m, spec.per)["method"]))


def claim_rows(m: Measured) -> list[Row]:
    """Every registered claim's rows (its subjects, in order, as point rows ``subject``, then its
    estimates and tests); the claims on explained images are not tested when nothing was
    explained (no fragility row)."""
    out = [point(EXPLAINED, len(m.frag))]
    for spec in (CLAIMS.get(name) for name in CLAIMS):
        judged = len(m.frag) > 0 or not spec.explained
        for subject in _subjects(spec, m, judged):
            out.append(point(claim_key(spec.id, subject).but(quantity="subject"), None))
            if judged:
                out += spec.tests(m, subject)
    return out


def claims_document(res: Results, ctx: Context) -> dict[str, Any]:
    """claims.json: every registered claim with its verdict (package doc); with no explained
    image, the claims on explained images are inconclusive, with the same ids and texts."""
    n_images = int(ctx.counts["n_evaluated"])
    explained = n_images > 0 and bool(res.value(EXPLAINED))
    subjects = res.select(section=SECTION, quantity="subject")
    rows = []
    for spec in (CLAIMS.get(name) for name in CLAIMS):
        judged = explained or not spec.explained
        for m in (r["method"] for r in subjects if r["name"] == row_id(spec.id, r["method"])):
            v = spec.verdict(res, ctx, m) if judged else inconclusive(NO_IMAGE)
            rows.append(spec.row(ctx.paper, m, v))

    return {"dataset": ctx.dataset, "n_images": n_images, "claims": rows,
            "counts": _tally(rows, PAPER_GROUP), "counts_beyond": _tally(rows, BEYOND)}  # fmt: skip


def _tally(rows: Sequence[Mapping[str, Any]], group: str) -> dict[str, int]:
    return {v: sum(r["verdict"] == v and r["group"] == group for r in rows) for v in VERDICTS}


AGREEMENT = (
    "held / not held only when the pooled tests say so (intersection-union: significant in "
    "every replicate, in the same direction) and every replicate's own verdict is the same; "
    "otherwise inconclusive"
)
"""The rule that turns replicate models into one verdict (:func:`pooled_claims_document`)."""


def pooled_claims_document(
    pooled: Mapping[str, Any], own: Mapping[int, Mapping[str, Any]]
) -> dict[str, Any]:
    """claims.json of replicate models: ``pooled`` (:func:`claims_document` of the pooled results
    table, :mod:`seginterp.evaluate.results.pool`) with each row's verdict kept only under
    :data:`AGREEMENT`, given each replicate's own claims document ``own`` (training seed ->
    document). Each row lists the replicates' verdicts and figures (``replicates``); ``seeds``:
    the replicates. With one replicate, its document."""
    seeds = list(own)
    if not seeds:
        raise ValueError("pooled_claims_document: no replicate")
    by_seed = {s: {r["id"]: r for r in doc["claims"]} for s, doc in own.items()}
    rows = []
    for row in pooled["claims"]:
        theirs = [by_seed[s].get(row["id"]) for s in seeds]
        verdicts = [INCONCLUSIVE if r is None else r["verdict"] for r in theirs]
        out = {**row, "replicates": [
            {"seed": s, "verdict": v, "ours": None if r is None else r["ours"]}
            for s, v, r in zip(seeds, verdicts, theirs, strict=True)
        ]}  # fmt: skip
        if len(seeds) > 1 and all(v == row["verdict"] for v in verdicts):
            out["why"] = f"all {len(seeds)} replicates {row['verdict']}; pooled: {row['why']}"
        elif len(seeds) > 1 and len(set(verdicts)) == 1:
            out["verdict"] = INCONCLUSIVE
            out["why"] = (f"all {len(seeds)} replicates {verdicts[0]}, but not the pooled tests "
                          f"(pooled: {row['verdict']}; {row['why']})")  # fmt: skip
        elif len(seeds) > 1:
            split = Counter(verdicts)
            said = ", ".join(f"{split[v]} {v}" for v in VERDICTS if split[v])
            out["verdict"] = INCONCLUSIVE
            out["why"] = f"replicates disagree: {said} (pooled: {row['verdict']}; {row['why']})"
        rows.append(out)
    return {**pooled, "seeds": seeds, "claims": rows, "counts": _tally(rows, PAPER_GROUP),
            "counts_beyond": _tally(rows, BEYOND)}  # fmt: skip


def _table(rows: list[Mapping[str, Any]], pooled: bool) -> list[str]:
    extra = ("replicates",) if pooled else ()
    head = ("claim", "source", "paper", "ours", "n", *extra, "verdict", "why")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        split = [", ".join(x["verdict"] for x in r["replicates"])] if pooled else []
        cells = [
            f"{r['claim']} (`{r['id']}`)",
            r["source"],
            r["paper"],
            r["ours"],
            str(r["n"]),
            *split,
            f"**{r['verdict']}**",
            r["why"],
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def claims_markdown(doc: Mapping[str, Any]) -> str:
    """The claims table as Markdown (claims.md): the paper's claims on its methods, then the
    same claims on the methods the paper did not use, apart and not in its tally."""
    c, b = doc["counts"], doc["counts_beyond"]
    seeds = doc.get("seeds", [])
    pooled = len(seeds) > 1
    if pooled:
        on = (
            f"{len(seeds)} replicate models, training seeds {', '.join(map(str, seeds))}; "
            f"{doc['n_images']} explained image-model pairs"
        )
    else:
        model = (
            f"; one model (training seed {seeds[0]}): the verdicts cover one training run"
            if seeds
            else ""
        )
        on = f"{doc['n_images']} explained test images{model}"
    lines = [
        f"Claims of the paper on `{doc['dataset']}` ({on}), on the paper's methods: {c[HELD]} "
        f"held, {c[NOT_HELD]} not held, {c[INCONCLUSIVE]} inconclusive."
        + (f" Over the replicates: {AGREEMENT}." if pooled else ""),
        "",
        *_table([r for r in doc["claims"] if r["group"] == PAPER_GROUP], pooled),
    ]
    beyond = [r for r in doc["claims"] if r["group"] == BEYOND]
    if beyond:
        lines += [
            "",
            f"Beyond the paper: the same claims on methods it did not use ({b[HELD]} held, "
            f"{b[NOT_HELD]} not held, {b[INCONCLUSIVE]} inconclusive; not in the tally above).",
            "",
            *_table(beyond, pooled),
        ]
    return "\n".join(lines) + "\n"
