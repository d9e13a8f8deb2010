"""The attribute stage's schema: npz round trip, key order, table rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seginterp.explain.records import MapRecord
from seginterp.explain.store import (
    TABLE_COLUMNS,
    MapKey,
    read_image,
    skipped_rows,
    table_row,
    with_dtypes,
    write_image,
)


def _records() -> list[MapRecord]:
    rng = np.random.default_rng(0)
    sample = np.zeros((4, 4), bool)
    sample[1, 2] = sample[2, 1] = True
    common = dict(seconds=0.5, n_border=5, n_explained=5)
    return [
        MapRecord("saliency", None, "one-pass", "signed", rng.random((3, 4, 4)), None, **common),
        MapRecord(
            "guided_backprop",
            None,
            "sampled(2)",
            "",
            rng.random((3, 4, 4)),
            None,
            seconds=0.2,
            n_border=5,
            n_explained=2,
            pixels=sample,
            shared=True,
        ),
        MapRecord(
            "deeplift",
            "bottleneck",
            "one-pass",
            "rescale",
            rng.random((4, 4)),
            rng.random((1, 1)),
            **common,
            delta_f=0.25,
            completeness="partial",
        ),
    ]


def test_npz_round_trip_and_key_order(tmp_path):
    border = np.zeros((4, 4), bool)
    border[1:3, 1:3] = True
    recs = _records()
    path = write_image(tmp_path, "img-1", border, "ok", recs)
    with np.load(path) as z:
        assert z.files == [
            "border", "status",
            "model/saliency", "mode/model/saliency",
            "model/guided_backprop", "mode/model/guided_backprop", "sample",
            "layer/deeplift/bottleneck", "mode/layer/deeplift/bottleneck",
            "native/deeplift/bottleneck",
        ]  # fmt: skip
        assert z["border"].dtype == np.uint8 and z["model/saliency"].dtype == np.float32
    got = read_image(tmp_path, "img-1")
    assert got.status == "ok" and (got.border == border).all()
    np.testing.assert_array_equal(got.sample, recs[1].pixels)
    key = MapKey("deeplift", "bottleneck")
    assert got.keys == [MapKey("saliency"), MapKey("guided_backprop"), key]
    assert key.level == "layer" and key.label == "deeplift@bottleneck"
    assert got.modes[MapKey("guided_backprop")] == "sampled(2)"
    np.testing.assert_array_equal(got.natives[key], recs[2].native.astype(np.float32))
    light = read_image(tmp_path, "img-1", maps=False)
    assert light.maps == {} and light.sample is not None
    with pytest.raises(ValueError, match="file name"):
        write_image(tmp_path, "../x", border, "ok", [])


def test_table_rows():
    recs = _records()
    rows = [table_row("a", 0, r) for r in recs]
    rows += skipped_rows(
        "b", 1, "empty_prediction", 0, [MapKey("saliency"), MapKey("gradcam", "x")]
    )
    table = with_dtypes(pd.DataFrame(rows, columns=list(TABLE_COLUMNS)))
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert str(table["shared"].dtype) == "boolean" and table["shared"].isna().sum() == 2
    assert np.allclose(table["pos_mass"][:3] + table["neg_mass"][:3], table["sum"][:3])
    assert table.loc[2, "max"] == pytest.approx(float(recs[2].native.max()))  # native stats
    assert list(table["level"]) == ["model", "model", "layer", "model", "layer"]
    # completeness: only where claimed, residual of the native map's sum
    assert table.loc[2, "delta_f"] == 0.25 and table.loc[2, "completeness"] == "partial"
    assert table.loc[2, "completeness_residual"] == pytest.approx(recs[2].native.sum() - 0.25)
    assert str(table["delta_f"].dtype) == "float64"
    others = table.drop(index=2)
    assert others[["delta_f", "completeness", "completeness_residual"]].isna().all().all()
