"""The check stage's cost estimate: its arithmetic, its warnings, and a real calibration."""

from __future__ import annotations

import copy
import math

import torch
from support import ROOT, user_folder

from seginterp import estimate as estimate_module
from seginterp.core.params import load_params
from seginterp.data.sources.registry import parse_download
from seginterp.estimate import (
    Unit,
    cached_calibration,
    calibrate,
    costs,
    estimate,
    image_count,
    split_counts,
    warnings,
)
from seginterp.evaluate.metrics import METRICS

PARAMS = load_params(ROOT / "params.yaml")
UNIT = Unit("cpu", 2, step=0.1, forward=0.01, linear=1.0, chunk=0.5, reference=0.3, border=100,
            layers=10)  # fmt: skip
COUNTS = {"train": 160, "val": 20, "test": 20}


def test_evaluate_has_one_part_per_registered_metric() -> None:
    assert set(estimate(PARAMS, "synthetic", UNIT, COUNTS)["evaluate"]) == set(METRICS.names())


def test_each_part_counts_the_passes_its_params_ask_for() -> None:
    """synthetic: 8 epochs, sampled 32 pixels in chunks of 16, 50 perturbations, 6 layer images,
    1 sensitivity image of 5 samples, 10 null images, recomputation on <= 32 pixels."""
    est = estimate(PARAMS, "synthetic", UNIT, COUNTS)
    explain = 1.0 + 0.5 * 2  # one-pass maps + two chunks of 16 of the 32 sampled pixels
    assert math.isclose(est["train"]["steps"], 8 * 160 * 0.1)
    assert math.isclose(est["train"]["validation"], 8 * 20 * 0.01)
    assert math.isclose(est["attribute"]["one-pass maps"], 20 * 1.0)
    assert math.isclose(est["attribute"]["nonlinear maps"], 20 * 0.5 * 2)
    ev = est["evaluate"]
    assert math.isclose(ev["fragility"], 20 * 50 * 0.01)
    assert math.isclose(ev["layer_fragility"], 6 * 10 * 50 * 0.01 / 2)
    assert math.isclose(ev["sensitivity"], 1 * 6 * explain)
    assert math.isclose(ev["regions_null"], 10 * explain)
    assert math.isclose(ev["regions_baseline"], 10 * 0.3)
    assert warnings("synthetic", est) == []


def test_every_border_pixel_of_a_long_border_warns_with_the_param_to_change() -> None:
    """The paper's exact mode on a 954-pixel border (a Kvasir-SEG model after 3 epochs)."""
    p = copy.deepcopy(PARAMS)
    p["synthetic"]["attribute"]["nonlinear_mode"] = "exact"
    unit = Unit("cpu", 2, 0.1, 0.01, linear=1.0, chunk=4.0, reference=0.3, border=954, layers=10)
    est = estimate(p, "synthetic", unit, COUNTS)
    assert math.isclose(est["attribute"]["nonlinear maps"], 20 * 4.0 * math.ceil(954 / 16))
    (line,) = warnings("synthetic", est)
    assert line == (
        "synthetic: attribute is estimated at 80 min per replicate (nonlinear maps 80 min); to "
        "shorten it set synthetic.attribute.nonlinear_mode: sampled (or a smaller "
        "attribute.sample_k)"
    )


def test_image_counts_come_from_the_split_or_the_source(tmp_path) -> None:
    assert split_counts(PARAMS, "kvasir-seg", None) == {"train": 800, "val": 100, "test": 100}
    assert split_counts(PARAMS, "synthetic", 200) == {"train": 160, "val": 20, "test": 20}
    assert split_counts(PARAMS, "folder", None) == {}
    _, syn = parse_download(PARAMS["synthetic"]["download"])
    assert image_count(syn) == 200
    folder = user_folder(tmp_path / "user")
    _, cfg = parse_download({"source": "folder", "path": str(folder)})
    assert image_count(cfg) == 2
    p = copy.deepcopy(PARAMS)
    p["datasets"] = ["folder"]
    lines, warned = costs(p, "folder", parse_download({"source": "folder", "path": None})[1])
    assert lines == ["folder: no time estimate (the image count is known after download)"]
    assert warned == []


def test_calibration_times_the_configured_model_and_restores_the_threads() -> None:
    p = copy.deepcopy(PARAMS)
    p["synthetic"]["preprocess"]["image_size"] = 32
    p["scale"]["cpu_threads"] = 1
    before = torch.get_num_threads()
    unit = calibrate(p, "synthetic")
    assert torch.get_num_threads() == before
    assert unit.threads == 1 and unit.device == "cpu" and unit.layers == 10
    assert abs(unit.border - 2 * math.pi * 8) < 0.2 * 2 * math.pi * 8  # a disc of radius 8 px
    assert min(unit.step, unit.forward, unit.linear, unit.chunk, unit.reference) > 0
    lines, warned = costs(p, "synthetic", parse_download(p["synthetic"]["download"])[1])
    assert lines[0] == (
        "synthetic: estimated time per replicate on cpu (1 threads), 160/20/20 images:"
    )
    assert [ln.split()[0] for ln in lines[1:-1]] == ["train", "attribute", "evaluate", "all"]
    assert lines[-1].startswith("  (calibration ")
    assert warned == []


def test_a_calibration_is_measured_once_per_machine_and_configuration(
    tmp_path, monkeypatch, caplog
) -> None:
    """The check stage runs on every `dvc repro`: it times the model again only when something
    the timing depends on changed, or the kept file cannot be read."""
    monkeypatch.setenv("SEGINTERP_CACHE_DIR", str(tmp_path))
    measured: list[int] = []

    def fake(params, dataset):
        measured.append(params[dataset]["preprocess"]["image_size"])
        return UNIT

    monkeypatch.setattr(estimate_module, "calibrate", fake)
    unit, line = cached_calibration(PARAMS, "synthetic")
    (kept,) = tmp_path.glob("calibration-*.json")
    assert unit == UNIT and measured == [64] and line.endswith(f"kept in {kept})")
    unit, line = cached_calibration(PARAMS, "synthetic")
    assert unit == UNIT and measured == [64] and "delete it to measure again" in line
    p = copy.deepcopy(PARAMS)
    p["synthetic"]["preprocess"]["image_size"] = 32
    cached_calibration(p, "synthetic")
    p["synthetic"]["attribute"]["ig_steps"] = 8
    cached_calibration(p, "synthetic")
    assert measured == [64, 32, 32] and len(list(tmp_path.glob("calibration-*.json"))) == 3
    kept.write_text("{not json")
    assert cached_calibration(PARAMS, "synthetic")[0] == UNIT and measured[-1] == 64
    assert "cannot read the calibration" in caplog.text
