"""The claims' rows of the results table, and claims.json / claims.md read back from it (the rows
of every registered claim, :data:`.registry.CLAIMS`)."""

from __future__ import annotations

from collections.abc import Mapping
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

    def tally(group: str) -> dict[str, int]:
        return {v: sum(r["verdict"] == v and r["group"] == group for r in rows) for v in VERDICTS}

    return {"dataset": ctx.dataset, "n_images": n_images, "claims": rows,
            "counts": tally(PAPER_GROUP), "counts_beyond": tally(BEYOND)}  # fmt: skip


def _table(rows: list[Mapping[str, Any]]) -> list[str]:
    lines = [
        "| claim | source | paper | ours | n | verdict | why |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            f"{r['claim']} (`{r['id']}`)",
            r["source"],
            r["paper"],
            r["ours"],
            str(r["n"]),
            f"**{r['verdict']}**",
            r["why"],
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def claims_markdown(doc: Mapping[str, Any]) -> str:
    """The claims table as Markdown (claims.md): the paper's claims on its methods, then the
    same claims on the methods the paper did not use, apart and not in its tally."""
    c, b = doc["counts"], doc["counts_beyond"]
    lines = [
        f"Claims of the paper on `{doc['dataset']}` ({doc['n_images']} explained test images), on "
        f"the paper's methods: {c[HELD]} held, {c[NOT_HELD]} not held, {c[INCONCLUSIVE]} "
        "inconclusive.",
        "",
        *_table([r for r in doc["claims"] if r["group"] == PAPER_GROUP]),
    ]
    beyond = [r for r in doc["claims"] if r["group"] == BEYOND]
    if beyond:
        lines += [
            "",
            f"Beyond the paper: the same claims on methods it did not use ({b[HELD]} held, "
            f"{b[NOT_HELD]} not held, {b[INCONCLUSIVE]} inconclusive; not in the tally above).",
            "",
            *_table(beyond),
        ]
    return "\n".join(lines) + "\n"
