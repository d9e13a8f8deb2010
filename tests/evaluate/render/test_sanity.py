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
    assert list(doc) == ["test", "seed", "n_images", "max_pixels", "functions", "methods"]
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
