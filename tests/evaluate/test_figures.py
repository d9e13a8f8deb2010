import numpy as np
import pytest
from PIL import Image

from seginterp.evaluate.figures import (
    ImageRow,
    choose_images,
    image_rows_figure,
    layer_grid_figure,
    layer_plot_tables,
    symmetric_scale,
)
from seginterp.explain.borders import border_pixels

S = 24


def _row(i: int) -> ImageRow:
    rng = np.random.default_rng(i)
    truth = np.zeros((S, S), dtype=np.uint8)
    truth[6:18, 5:16] = 1
    pred = np.roll(truth, 1, axis=1)
    maps = {
        "saliency": rng.normal(size=(3, S, S)).astype(np.float32),
        "deeplift": rng.normal(size=(3, S, S)).astype(np.float32) * 10,
        "zero": np.zeros((3, S, S), dtype=np.float32),
    }
    image = rng.integers(0, 255, (S, S, 3), dtype=np.uint8)
    return ImageRow(f"img{i}", image, truth, pred, border_pixels(pred), maps)


def _assert_png(path):
    assert path.stat().st_size > 0
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.verify()


def test_choose_images_is_deterministic_and_evenly_spaced():
    assert choose_images(10, 3) == [0, 4, 9] or choose_images(10, 3) == [0, 5, 9]
    assert choose_images(10, 3) == choose_images(10, 3)
    assert choose_images(2, 5) == [0, 1]
    assert choose_images(0, 3) == [] and choose_images(5, 0) == []
    assert choose_images(7, 1) == [0]


def test_symmetric_scale_is_positive():
    assert symmetric_scale([np.zeros((2, 2))]) == 1.0
    assert symmetric_scale([np.array([-3.0, 1.0])], q=100) == 3.0


def test_image_rows_figure_is_a_png(tmp_path):
    path = tmp_path / "maps.png"
    image_rows_figure([_row(0), _row(1)], ["saliency", "deeplift", "zero"], path)
    _assert_png(path)
    first = path.read_bytes()
    image_rows_figure([_row(0), _row(1)], ["saliency", "deeplift", "zero"], path)
    assert path.read_bytes() == first  # deterministic bytes (no timestamp metadata)
    with pytest.raises(ValueError):
        image_rows_figure([], ["saliency"], tmp_path / "x.png")


def test_layer_grid_figure_is_a_png(tmp_path):
    layers = ["encoder1", "bottleneck", "decoder5"]
    rng = np.random.default_rng(0)
    rows = [
        (f"img{i}", rng.random((S, S, 3)), {k: rng.normal(size=(S, S)) for k in layers})
        for i in range(2)
    ]
    path = tmp_path / "layers_gradcam.png"
    layer_grid_figure(rows, layers, "gradcam", path)
    _assert_png(path)


def test_layer_plot_tables_follow_layer_order():
    def blk(v):
        return {"mean": v, "ci_low": v, "ci_high": v, "n": 3}

    def infd(v):
        return {"infidelity": blk(v), "zero_infidelity": blk(1.0), "skill": blk(1 - v)}

    order = ["encoder1", "encoder2", "decoder5"]
    frag = {
        "infidelity": {
            "sigma_0p03": {
                "unnormalized": {
                    "layer": {"gradcam": {"decoder5": infd(0.5), "encoder1": infd(2)}}
                },
                "normalized": {
                    "layer": {"gradcam": {"decoder5": infd(0.4), "encoder1": infd(0.9)}}
                },
            }
        },
        "sensitivity": {"layer": {"gradcam": {"encoder1": blk(0.1)}}},
    }

    def reg(v):
        r = {q: blk(v) for q in ("abs_share", "net_share", "enrichment")}
        return {
            "band": r,
            "inside": r,
            "outside": r,
            "n": 3,
            "n_claim_band_positive_inside_negative": 1,
        }

    regions = {"layer": {"gradcam": {"encoder1": reg(0.2), "decoder5": reg(0.6)}}}
    tables = layer_plot_tables(frag, regions, order, "sigma_0p03")
    rows = tables[("layer_infidelity", "gradcam")]
    assert [r["layer"] for r in rows] == ["encoder1", "decoder5"]
    assert [r["layer_index"] for r in rows] == [0, 2]
    assert rows[0]["sensitivity"] == 0.1 and rows[1]["sensitivity"] is None
    assert rows[1]["skill_normalized"] == pytest.approx(0.6)
    reg_rows = tables[("layer_regions", "gradcam")]
    assert reg_rows[1]["band_share"] == 0.6 and reg_rows[0]["n_claim"] == 1
