import pandas as pd
from evaluate.results.test_regions import measured
from evaluate.results.test_sanity import toy_sanity

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.render.context import Context
from seginterp.evaluate.render.sanity import SANITY_DOC, sanity_document, sanity_verdict
from seginterp.evaluate.results.sanity import rows
from seginterp.evaluate.results.table import Results, frame
from seginterp.evaluate.sanity import SANITY_COLUMNS
from seginterp.evaluate.stats import summary


def _doc(df: pd.DataFrame) -> dict:
    ctx = Context("toy", None, EvaluateConfig(bootstrap=100), {}, [])
    return sanity_document(Results(frame(rows(measured(sanity=df)))), ctx)


def test_sanity_document_keeps_per_image_values():
    doc = _doc(toy_sanity())
    assert list(doc) == ["test", "seed", "n_images", "max_pixels", "functions", "methods",
                         "cascade"]  # fmt: skip
    assert doc["cascade"]["n_images"] == 0 and doc["cascade"]["methods"] == {}
    assert doc["test"] == SANITY_DOC and doc["n_images"] == 2 and isinstance(doc["n_images"], int)
    # per method the function of its last image, methods in table order
    assert doc["functions"] == {"saliency": "border_mean", "deeplift": "border_mean"}
    assert list(doc["methods"]) == ["saliency", "deeplift"]
    sal = doc["methods"]["saliency"]
    assert list(sal) == ["spearman", "spearman_abs", "verdict", "per_image"]
    assert sal["spearman"] == summary([0.1, 0.3], 100, 0)
    assert sal["verdict"].startswith("too few images")
    assert doc["methods"]["deeplift"]["spearman"]["n"] == 1
    per_image = doc["methods"]["deeplift"]["per_image"]
    assert per_image[1] == {"id": "b", "spearman": None, "spearman_abs": 0.97}


def test_empty_sanity_document():
    doc = _doc(pd.DataFrame(columns=list(SANITY_COLUMNS)))
    assert doc["n_images"] == 0 and doc["methods"] == {} and doc["functions"] == {}


def test_sanity_verdict_per_method():
    """Defect 8: each method gets a verdict; 2 images are too few, not an interval."""
    assert sanity_verdict(summary([0.1, 0.2, 0.15, 0.05], 100)).startswith("changes with")
    assert sanity_verdict(summary([0.95, 0.97, 0.99], 100)).startswith("does not change")
    assert sanity_verdict(summary([0.2, 0.9, 0.5, 0.7], 100)).startswith("inconclusive")
    assert sanity_verdict(summary([0.1, 0.2], 100)).startswith("too few images")
    assert sanity_verdict(summary([], 100)) == "no images"


def toy_cascade() -> pd.DataFrame:
    """3 images, 3 steps; saliency stays at 0.9, DeepLIFT falls as 0.8 / step."""
    rows_ = []
    for image in ("a", "b", "c"):
        for step, block, share in ((1, "head", 0.01), (2, "decoder5", 0.02), (3, "encoder1", 0.9)):
            for method, rho in (("saliency", 0.9), ("deeplift", 0.8 / step)):
                rows_.append({"id": image, "method": method, "step": step, "block": block,
                              "params_share": share, "spearman": rho, "spearman_abs": rho,
                              "ssim": rho / 2})  # fmt: skip
    return pd.DataFrame(rows_)


def cascade_results() -> Results:
    from seginterp.evaluate.results import cascade

    m = measured()
    return Results(frame(cascade.rows(type(m)(**{**m.__dict__, "cascade": toy_cascade()}))))


def test_the_cascade_is_a_curve_per_method_in_cascade_order():
    from seginterp.evaluate.render.sanity import cascade_block

    block = cascade_block(cascade_results())
    assert block["n_images"] == 3
    assert block["steps"] == [{"block": "head", "params_share": 0.01},
                              {"block": "decoder5", "params_share": 0.02},
                              {"block": "encoder1", "params_share": 0.9}]  # fmt: skip
    assert list(block["methods"]) == ["saliency", "deeplift"]
    dl = block["methods"]["deeplift"]
    assert [s["block"] for s in dl] == ["head", "decoder5", "encoder1"]
    assert [round(s["spearman_abs"]["mean"], 6) for s in dl] == [0.8, 0.4, round(0.8 / 3, 6)]
    assert dl[0]["ssim"]["n"] == 3 and dl[0]["ssim"]["ci_low"] is not None
