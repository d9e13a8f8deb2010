"""The attribute stage's work (``seginterp.explain.run``), end to end through the stage command:
borders -> attribute on images with a border, an empty and a full prediction."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from explain.captum_ref import DEC, S, blobs
from support import ROOT

from seginterp.explain.run import StaleBordersError, read_borders
from seginterp.model.net import ModelConfig, save_model


def _load_stage(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_stage_carries_images_without_border(tmp_path, trained, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the run log goes to ./logs
    """borders -> attribute on 3 images: one with a border, an empty and a full prediction."""
    model = trained[0]
    imgs, masks = blobs(3, S, seed=1)
    pred_masks = masks[:, 0].numpy().astype(np.uint8)
    pred_masks[1] = 0
    pred_masks[2] = 1
    prep, mdir, pred = tmp_path / "prepared", tmp_path / "model", tmp_path / "pred"
    for d in (prep, mdir, pred):
        d.mkdir()
    np.save(prep / "test_images.npy", (imgs.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8))
    np.save(prep / "test_masks.npy", masks[:, 0].numpy().astype(np.uint8))
    (prep / "meta.json").write_text(json.dumps({"mean_rgb": [0.4, 0.35, 0.3]}))
    mcfg = ModelConfig(encoder="resnet18", decoder_channels=DEC)
    save_model(mdir / "model.pt", model, mcfg)
    np.save(pred / "masks.npy", pred_masks)
    ids = ["img-a", "img-b", "img-c"]
    pd.DataFrame({"id": ids, "index": np.arange(3)}).to_parquet(pred / "per_image.parquet")
    params = tmp_path / "params.yaml"
    section = {
        "methods": ["saliency", "deeplift", "guided_backprop"],
        "layer_methods": ["gradcam"],
        "layers": ["bottleneck", "decoder5"],
        "deeplift_baseline": "mean",
        "ig_steps": 4,
        "nonlinear_mode": "sampled",
        "sample_k": 5,
        "chunk_size": 8,
        "device": "cpu",
    }
    native = {"numerics": "native"}  # in this process: torch chose its kernels already
    params.write_text(yaml.safe_dump({"t": {"attribute": section}, "scale": native}))
    runner = CliRunner()
    borders = tmp_path / "borders"
    res = runner.invoke(
        _load_stage("borders").main,
        [
            "--dataset",
            "t",
            "--predictions",
            str(pred),
            "--out",
            str(borders),
            "--metrics",
            str(tmp_path / "b.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    out, table_path = tmp_path / "attr", tmp_path / "attributions.parquet"
    args = ["--dataset", "t", "--prepared", prep, "--model", mdir, "--predictions", pred]
    args += ["--borders", borders, "--out", out, "--table", table_path, "--params", params]
    res = runner.invoke(_load_stage("attribute").main, [str(a) for a in args])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert sorted(p.name for p in out.iterdir()) == [f"{i}.npz" for i in ids]
    with np.load(out / "img-a.npz") as z:
        keys = set(z.files)
        assert z["model/saliency"].shape == (3, S, S) and z["model/saliency"].dtype == np.float32
        assert z["layer/gradcam/decoder5"].shape == (S, S)
        assert z["native/gradcam/bottleneck"].shape == (1, 1)
        assert str(z["mode/model/guided_backprop"]) == "sampled(5)"
        assert str(z["mode/model/deeplift"]) == "one-pass"
        assert z["sample"].sum() == 5 and (z["sample"] <= z["border"]).all()
        assert str(z["status"]) == "ok"
    assert "layer/gradcam/bottleneck" in keys
    with np.load(out / "img-b.npz") as z:
        assert set(z.files) == {"border", "status"} and str(z["status"]) == "empty_prediction"
    t = pd.read_parquet(table_path)
    assert len(t) == 3 * (3 + 2)
    assert t.groupby("id")["status"].first().to_dict() == {
        "img-a": "ok",
        "img-b": "empty_prediction",
        "img-c": "full_prediction",
    }
    ok = t[t.status == "ok"]
    assert "seconds" not in t and ok["sum"].notna().all()  # the table's bytes ignore timing
    log = json.loads((tmp_path / "logs" / "t" / "attribute.json").read_text())
    assert log["stage"] == "attribute" and log["seconds"] > 0
    assert set(log["seconds_per_image"]) == {
        "saliency", "deeplift", "guided_backprop", "gradcam@bottleneck", "gradcam@decoder5"
    }  # fmt: skip
    assert np.allclose(ok["pos_mass"] + ok["neg_mass"], ok["sum"])
    assert set(ok["mode"]) == {"one-pass", "sampled(5)"}
    assert t[t.status != "ok"]["sum"].isna().all()
    assert set(t[t.level == "layer"]["layer"]) == {"bottleneck", "decoder5"}
    dl = ok[ok.method == "deeplift"]  # mean baseline: complete at model level
    assert list(dl["completeness"]) == ["exact"] and dl["delta_f"].abs().gt(1e-4).all()
    assert (dl["completeness_residual"].abs() <= 1e-3 * dl["delta_f"].abs()).all()
    assert np.allclose(dl["sum"] - dl["delta_f"], dl["completeness_residual"])
    rest = t[t.method != "deeplift"]
    assert rest[["delta_f", "completeness", "completeness_residual"]].isna().all().all()


def test_borders_of_other_predictions_are_refused(tmp_path):
    pred, borders = tmp_path / "pred", tmp_path / "borders"
    pred.mkdir()
    borders.mkdir()
    pd.DataFrame({"id": ["a", "b"], "index": [0, 1]}).to_parquet(pred / "per_image.parquet")
    np.save(borders / "borders.npy", np.zeros((2, 4, 4), np.uint8))
    table = pd.DataFrame({"id": ["a", "c"], "index": [0, 1], "n_border": [0, 0]})
    table.assign(status="empty_prediction").to_parquet(borders / "borders.parquet")
    with pytest.raises(StaleBordersError, match="rerun `borders`"):
        read_borders(pred, borders, None)
