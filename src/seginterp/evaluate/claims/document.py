"""claims.json and claims.md: the rows of every registered claim (:data:`.registry.CLAIMS`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seginterp.evaluate.claims.base import (
    HELD,
    INCONCLUSIVE,
    NOT_HELD,
    VERDICTS,
    ClaimInputs,
    ClaimSpec,
    inconclusive,
)
from seginterp.evaluate.claims.registry import CLAIMS
from seginterp.evaluate.claims.verdicts import region_rows

NO_IMAGE = "no explainable image"
"""The reason of every claim on the explained images when there is none."""


def _methods(spec: ClaimSpec, ci: ClaimInputs, judged: bool) -> list[str | None]:
    """The subjects of a claim's rows: None for a claim on the dataset; per method, the methods
    of the region rows when judged, else the methods the run explains with."""
    if spec.per == "dataset":
        return [None]
    if not judged:
        return list(ci.methods if spec.per == "method" else ci.layer_methods)
    return list(dict.fromkeys(region_rows(ci, spec.per)["method"]))


def claims_document(ci: ClaimInputs, n_images: int) -> dict[str, Any]:
    """claims.json: every registered claim with its verdict (package doc); with no explained
    image, the claims on explained images are inconclusive, with the same ids and texts."""
    explained = n_images > 0 and len(ci.frag) > 0
    rows = []
    for spec in (CLAIMS.get(name) for name in CLAIMS):
        judged = explained or not spec.explained
        for m in _methods(spec, ci, judged):
            v = spec.judge(ci, m) if judged else inconclusive(NO_IMAGE)
            rows.append(spec.row(ci.paper, m, v))
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    return {"dataset": ci.dataset, "n_images": int(n_images), "claims": rows, "counts": counts}


def claims_markdown(doc: Mapping[str, Any]) -> str:
    """The claims table as Markdown (claims.md)."""
    c = doc["counts"]
    lines = [
        f"Claims of the paper on `{doc['dataset']}` ({doc['n_images']} explained test images): "
        f"{c[HELD]} held, {c[NOT_HELD]} not held, {c[INCONCLUSIVE]} inconclusive.",
        "",
        "| claim | source | paper | ours | n | verdict | why |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in doc["claims"]:
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
    return "\n".join(lines) + "\n"
