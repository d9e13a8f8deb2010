"""The segmentation rows: mean Dice and IoU of the test images, none without scores."""

import numpy as np
import pandas as pd

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.results import segmentation
from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Results, frame
from seginterp.evaluate.stats import summary

EMPTY = pd.DataFrame()


def _measured(seg: pd.DataFrame | None) -> Measured:
    cfg = EvaluateConfig(bootstrap=100, seed=3)
    return Measured(EMPTY, EMPTY, EMPTY, EMPTY, EMPTY, seg, ["encoder1"], cfg)


def test_mean_dice_and_iou_with_their_intervals(tmp_path):
    rng = np.random.default_rng(0)
    seg = pd.DataFrame({"iou": rng.uniform(0.5, 0.9, 12), "dice": rng.uniform(0.6, 0.95, 12)})
    path = tmp_path / "results.parquet"
    frame(segmentation.rows(_measured(seg))).to_parquet(path, index=False)
    res = Results(pd.read_parquet(path))
    for q in ("dice", "iou"):
        assert res.summary(Key("segmentation", quantity=q)) == summary(seg[q].to_numpy(), 100, 3)
    assert [r["quantity"] for r in res.select(section="segmentation")] == ["dice", "iou"]


def test_no_scores_no_rows():
    assert segmentation.rows(_measured(None)) == []
    assert segmentation.rows(_measured(pd.DataFrame({"iou": [], "dice": []}))) == []
