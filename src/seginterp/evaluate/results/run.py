"""What the documents need to know of a run besides its statistics, as point rows of the results
table, so that the documents (and the pooled documents of several replicates) are rendered from
results tables alone.

- section ``images``: ``n_images``, ``n_with_border``, ``n_without_border``,
  ``n_not_attributed``, ``n_evaluated``, and per border status other than ``ok`` a
  ``n_without_border`` row named by the status (pooling sums them like every other count);
- section ``run``: ``layer`` rows (``layer``: the name, estimate: its index in network order) and
  ``refused`` rows (``method``; ``note``: why the model cannot run it).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Results, Row, point

SECTION = "images"
RUN = "run"
TOTALS = ("n_images", "n_with_border", "n_without_border", "n_not_attributed", "n_evaluated")


def image_counts(status: pd.Series, n_not_attributed: int, n_evaluated: int) -> dict[str, Any]:
    """The counts of one evaluation from the border statuses of its test images."""
    by_status = status.value_counts().to_dict()
    return {
        "n_images": len(status),
        "n_with_border": int((status == "ok").sum()),
        "n_without_border": int((status != "ok").sum()),
        "without_border_by_status": {str(k): int(v) for k, v in by_status.items() if k != "ok"},
        "n_not_attributed": n_not_attributed,
        "n_evaluated": n_evaluated,
    }


def rows(m: Measured) -> list[Row]:
    """The point rows of ``m.counts`` (:func:`image_counts`), ``m.layer_order`` and
    ``m.refused``."""
    out = [point(Key(RUN, "layer", layer=k), i) for i, k in enumerate(m.layer_order)]
    out += [{**point(Key(RUN, "refused", method=k), None), "note": v} for k, v in m.refused.items()]
    c = m.counts
    if not c:
        return out
    out += [point(Key(SECTION, quantity=q), c[q]) for q in TOTALS]
    by_status = c["without_border_by_status"]
    return out + [point(Key(SECTION, "n_without_border", name=s), v) for s, v in by_status.items()]


def layer_order(res: Results) -> tuple[str, ...]:
    """The model's layer names in network order."""
    rows = sorted(res.select(section=RUN, quantity="layer"), key=lambda r: r["estimate"])
    return tuple(r["layer"] for r in rows)


def refused(res: Results) -> dict[str, str]:
    """Configured methods the model cannot run -> why."""
    return {r["method"]: r["note"] for r in res.select(section=RUN, quantity="refused")}


def counts(res: Results) -> dict[str, Any]:
    """:func:`image_counts` read back from a results table (of one evaluation or pooled)."""
    got = {q: res.value(Key(SECTION, quantity=q)) for q in TOTALS}
    missing = [q for q, v in got.items() if v is None]
    if missing:
        raise ValueError(f"results: no image counts {missing}: build the images rows")
    by_status = {
        r["name"]: int(r["estimate"])
        for r in res.select(section=SECTION, quantity="n_without_border")
        if r["name"] is not None
    }
    totals: dict[str, Any] = {q: int(v) for q, v in got.items()}
    return {
        "n_images": totals["n_images"],
        "n_with_border": totals["n_with_border"],
        "n_without_border": totals["n_without_border"],
        "without_border_by_status": by_status,
        "n_not_attributed": totals["n_not_attributed"],
        "n_evaluated": totals["n_evaluated"],
    }
