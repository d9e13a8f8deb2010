"""sanity.json as a view of the results table (:mod:`seginterp.evaluate.results.sanity` rows):
per model-level method the rank correlations of trained vs randomized maps, their per-image
values and a verdict (:func:`sanity_verdict`); under ``cascade`` the cascading randomisation's
curves (:mod:`seginterp.evaluate.results.cascade` rows)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seginterp.evaluate.render.context import Context
from seginterp.evaluate.results.table import Key, Results
from seginterp.evaluate.stats import MIN_CI_VALUES

SANITY_RHO = 0.5
"""Verdict threshold on the rank correlation of |maps| between the trained and the randomized
model: below, the map changes with the weights; above, it does not (it mostly reflects the
input or the architecture)."""

SANITY_DOC = (
    "Spearman rank correlation over pixels between the channel-summed map of the "
    "trained model and of the same architecture re-initialized (seeded); same border; verdict on "
    f"the rank correlation of |maps| against {SANITY_RHO:g}, 'too few images' below "
    f"{MIN_CI_VALUES} images"
)


def sanity_verdict(spearman_abs: Mapping[str, Any]) -> str:
    """The verdict of one method from the summary of its per-image ``spearman_abs``
    (``{mean, ci_low, ci_high, n}``)."""
    n, lo, hi = spearman_abs["n"], spearman_abs["ci_low"], spearman_abs["ci_high"]
    if n == 0:
        return "no images"
    if lo is None:
        return f"too few images for a verdict (n={n} < {MIN_CI_VALUES})"
    if hi < SANITY_RHO:
        return f"changes with the weights (rank correlation of |maps| < {SANITY_RHO:g})"
    if lo > SANITY_RHO:
        return f"does not change with the weights (rank correlation of |maps| > {SANITY_RHO:g})"
    return f"inconclusive (the interval of the rank correlation of |maps| spans {SANITY_RHO:g})"


def _method_block(res: Results, method: str) -> dict[str, Any]:
    """``{spearman: summary, spearman_abs: summary, verdict, per_image: [{id, spearman,
    spearman_abs}]}`` of one method."""
    block: dict[str, Any] = {
        col: res.summary(Key("sanity", col, method=method)) for col in ("spearman", "spearman_abs")
    }
    block["verdict"] = sanity_verdict(block["spearman_abs"])
    signed, absolute = (
        res.select(section="sanity", quantity=col, method=method, stat="point")
        for col in ("spearman", "spearman_abs")
    )
    block["per_image"] = [
        {"id": s["name"], "spearman": s["estimate"], "spearman_abs": a["estimate"]}
        for s, a in zip(signed, absolute, strict=True)
    ]
    return block


CASCADE_DOC = (
    "cascading randomisation (Adebayo et al.): the blocks re-initialized from the output back "
    "to the input, cumulatively; per step the mean over images of the rank correlations "
    "(signed, |maps|) and the SSIM of |maps| between the trained and the randomized model's "
    "maps of the same function; params_share: the share of parameters re-initialized"
)


def cascade_block(res: Results) -> dict[str, Any]:
    """``{test, n_images, steps: [{block, params_share}], methods: {method: [{block, spearman,
    spearman_abs, ssim}]}}`` (summaries with intervals, in cascade order)."""
    n = res.value(Key("cascade", quantity="n_images"))
    steps = res.select(section="cascade", quantity="params_share", stat="point")
    out: dict[str, Any] = {"test": CASCADE_DOC, "n_images": 0 if n is None else int(n),
                           "steps": [{"block": r["layer"], "params_share": r["estimate"]}
                                     for r in steps]}  # fmt: skip
    methods = dict.fromkeys(r["method"] for r in res.select(section="cascade", quantity="ssim"))
    out["methods"] = {
        m: [
            {"block": r["layer"], **{q: res.summary(Key("cascade", q, method=m, layer=r["layer"],
                                                        name=r["name"]))
                                     for q in ("spearman", "spearman_abs", "ssim")}}
            for r in steps
        ]
        for m in methods
    }  # fmt: skip
    return out


def sanity_document(res: Results, ctx: Context) -> dict[str, Any]:
    """sanity.json: the test, the functions re-explained (per method, that of its last image),
    the per-method correlations and the cascade."""
    per_image = res.select(section="sanity", quantity="spearman", stat="point")
    functions = {r["method"]: r["function"] for r in per_image}
    n_images = res.value(Key("sanity", quantity="n_images"))
    return {
        "test": SANITY_DOC,
        "seed": ctx.cfg.seed,
        "n_images": 0 if n_images is None else int(n_images),
        "max_pixels": ctx.cfg.recompute_max_pixels,
        "functions": dict(functions),
        "methods": {m: _method_block(res, m) for m in dict.fromkeys(functions)},
        "cascade": cascade_block(res),
    }
