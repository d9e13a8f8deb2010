import numpy as np
import pytest
from PIL import Image

from seginterp.evaluate import figures
from seginterp.evaluate.figures import (
    COLORBAR_LABEL,
    ImageRow,
    image_rows_figure,
    layer_grid_figure,
    method_title,
    outline_masks,
    panel_scales,
    symmetric_scale,
    write_map_figures,
)
from seginterp.explain.borders import border_pixels
from seginterp.explain.store import ImageMaps, MapKey

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


def test_panel_scales_per_panel_or_per_row():
    small, big = np.full((4, 4), 1e-4), np.full((4, 4), 5.0)
    small[0, 0] = -2e-4
    assert panel_scales([small, big], q=100) == [2e-4, 5.0]  # default: each panel its own
    assert panel_scales([small, big], "row", q=100) == [5.0, 5.0]
    assert panel_scales([]) == [] and panel_scales([], "row") == []
    with pytest.raises(ValueError, match="scale"):
        panel_scales([small], "column")


def test_method_title_marks_sampled_maps():
    assert method_title("guided_backprop", "sampled(32)") == "Guided Backprop — sampled(32)"
    assert method_title("guided_backprop", "exact") == "Guided Backprop"
    assert method_title("deeplift") == "DeepLIFT" and method_title("my_method") == "my method"


def test_outline_masks_draws_truth_and_prediction():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    row = _row(0)
    fig, ax = plt.subplots()
    drawn = outline_masks(ax, row.truth, row.pred)
    assert len(drawn) == 2
    colours = {tuple(np.round(c.get_edgecolor()[0][:3], 3)) for c in drawn}
    assert len(colours) == 2  # truth and prediction in different colours
    assert len(outline_masks(ax, np.zeros((S, S)), row.pred)) == 1  # empty truth: skipped
    plt.close(fig)


@pytest.fixture
def kept_figures(monkeypatch):
    """The figures the figure functions would save, kept open instead."""
    kept = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: kept.append(fig))
    yield kept
    import matplotlib.pyplot as plt

    for fig in kept:
        plt.close(fig)


def _map_axes(fig, titles):
    return [ax for ax in fig.axes if ax.get_title() in titles]


def test_image_rows_figure_panels(kept_figures, tmp_path):
    row = _row(0)
    row.maps["deeplift"] = row.maps["deeplift"] * 1e-4  # orders of magnitude below saliency
    row.modes = {"saliency": "one-pass", "deeplift": "sampled(32)"}
    image_rows_figure([row], ["saliency", "deeplift"], tmp_path / "m.png")
    (fig,) = kept_figures
    image_ax, axes = fig.axes[0], fig.axes[3:5]  # image | truth | prediction | the two maps
    limits = [ax.images[-1].get_clim() for ax in axes]
    assert limits[0][1] > 100 * limits[1][1]  # each panel its own scale
    assert all(lo == -hi for lo, hi in limits)  # symmetric
    printed = [t.get_text() for ax in axes for t in ax.texts]
    assert printed == [f"±{hi:.2g}" for _, hi in limits]  # the scale printed on the panel
    assert [ax.get_title() for ax in axes] == ["Saliency", "DeepLIFT — sampled(32)"]
    bars = [ax for ax in fig.axes if ax.get_ylabel() == COLORBAR_LABEL]
    assert len(bars) == 2  # one labelled colour bar per map
    assert len(image_ax.collections) == 2  # truth and prediction outlined on the image
    assert fig.legends and "ground truth" in fig.legends[0].texts[0].get_text()

    image_rows_figure([row], ["saliency", "deeplift"], tmp_path / "m.png", scale="row")
    axes = kept_figures[1].axes[3:5]
    assert len({ax.images[-1].get_clim() for ax in axes}) == 1  # the shared option


def test_layer_grid_figure_panels(kept_figures, tmp_path):
    rng = np.random.default_rng(0)
    maps = {"encoder1": rng.normal(size=(S, S)) * 1e-5, "decoder5": rng.normal(size=(S, S))}
    rows = [("img0", rng.random((S, S, 3)), maps)]
    layer_grid_figure(rows, ["encoder1", "decoder5"], "gradcam", tmp_path / "g.png")
    modes = [{"encoder1": "exact", "decoder5": "sampled(8)"}]
    layer_grid_figure(rows, ["encoder1", "decoder5"], "gradcam", tmp_path / "g.png", modes=modes)
    first, second = kept_figures
    (_, hi0), (_, hi1) = (ax.images[-1].get_clim() for ax in first.axes[1:3])
    assert hi1 > 1000 * hi0  # each cell its own scale
    assert len([ax for ax in first.axes if ax.get_ylabel() == COLORBAR_LABEL]) == 2
    assert [ax.get_title() for ax in second.axes[1:3]] == ["encoder1", "decoder5 — sampled(8)"]


def test_write_map_figures_titles_come_from_the_stored_modes(kept_figures, tmp_path):
    row = _row(0)
    stored = ImageMaps(border=row.border, status="ok")
    for key, mode in ((MapKey("saliency"), "one-pass"), (MapKey("guided_backprop"), "sampled(4)")):
        stored.maps[key], stored.modes[key] = row.maps["saliency"], mode
    stored.maps[MapKey("gradcam", "decoder5")] = row.maps["saliency"][0]
    stored.modes[MapKey("gradcam", "decoder5")] = "sampled(4)"
    write_map_figures(
        tmp_path, [row], [stored], ["saliency", "guided_backprop"], ["gradcam"], ["decoder5"],
        ["encoder1", "decoder5"],
    )  # fmt: skip
    maps_fig, grid_fig = kept_figures
    assert _map_axes(maps_fig, {"Saliency", "Guided Backprop — sampled(4)"})[1].images
    assert _map_axes(grid_fig, {"decoder5 — sampled(4)"})
