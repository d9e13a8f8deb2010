"""The evaluate stage on a tiny pipeline state (attribute stage run first)."""

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from evaluate.toys import S, tiny_unet
from PIL import Image
from support import ROOT


def _load_stage(name: str):
    path = ROOT / "stages" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_stage_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


LAYERS = ["encoder1", "bottleneck", "decoder5"]


def _run_stages(tmp_path, no_border: bool = False):
    """Inputs of a tiny pipeline state, the attribute stage, then the evaluate stage."""
    from seginterp.explain.borders import find_borders, write_borders
    from seginterp.model.net import ModelConfig, save_model

    n, size = 4, S
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    truths = np.stack(
        [((yy - 16) ** 2 + (xx - c) ** 2 < 36).astype(np.uint8) for c in (12, 16, 20, 16)]
    )
    images = (rng.uniform(0, 60, (n, size, size, 3)) + truths[..., None] * 150).astype(np.uint8)
    preds = truths.copy()
    preds[1] = 0  # no border: counted, never averaged
    if no_border:
        preds[:] = 0
    ids = [f"im{i}" for i in range(n)]
    prep, pr, bd, md = (tmp_path / d for d in ("prepared", "predictions", "borders", "model"))
    for d in (prep, pr, bd, md):
        d.mkdir()
    np.save(prep / "test_images.npy", images)
    np.save(prep / "test_masks.npy", truths)
    (prep / "meta.json").write_text(json.dumps({"mean_rgb": [0.3, 0.3, 0.3]}))
    cfg = ModelConfig(encoder="resnet18", decoder_channels=(8, 8, 4, 4, 4))
    save_model(md / "model.pt", tiny_unet(), cfg)
    np.save(pr / "masks.npy", preds)
    pd.DataFrame(
        {"id": ids, "index": range(n), "iou": [0.9, 0.0, 0.8, 0.7], "dice": [0.95, 0.0, 0.9, 0.8]}
    ).to_parquet(pr / "per_image.parquet")
    write_borders(bd, find_borders(preds, pd.DataFrame({"id": ids, "index": range(n)})))
    layers = LAYERS
    params = {
        "datasets": ["t"],
        "t": {
            "attribute": {
                "methods": ["saliency", "deeplift", "guided_backprop"],
                "layer_methods": ["gradcam", "deeplift"],
                "layers": layers,
                "guided_gradcam_layer": "decoder5",
                "nonlinear_mode": "sampled",
                "sample_k": 8,
                "device": "cpu",
            },
            "evaluate": {
                "infidelity_sigma": [0.03, 0.1],
                "n_perturb_samples": 12,
                "sensitivity_max_images": 1,
                "sensitivity_samples": 2,
                "sanity_images": 2,
                "cascade_images": 2,
                "figure_images": 2,
                "bootstrap": 50,
                "recompute_max_pixels": 5,
                "device": "cpu",
            },
        },
    }
    params["scale"] = {"numerics": "native"}  # in this process: torch chose its kernels already
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    common = [
        "--dataset",
        "t",
        "--prepared",
        str(prep),
        "--model",
        str(md),
        "--predictions",
        str(pr),
        "--borders",
        str(bd),
        "--params",
        str(tmp_path / "params.yaml"),
    ]
    table = tmp_path / "attributions.parquet"
    res = CliRunner().invoke(
        _load_stage("attribute"),
        [*common, "--out", str(tmp_path / "attr"), "--table", str(table)],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    mdir, plots = tmp_path / "metrics", tmp_path / "metrics" / "plots"
    res = CliRunner().invoke(
        _load_stage("evaluate"),
        [
            *common,
            "--attributions",
            str(tmp_path / "attr"),
            "--table",
            str(table),
            "--out",
            str(tmp_path / "eval"),
            "--metrics-dir",
            str(mdir),
            "--plots-dir",
            str(plots),
        ],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    return mdir, plots


def _map_mass(c):
    """A toy metric: the total |mass| of every stored map of the image."""
    return [
        {"id": c.ref.id, "method": k.method, "layer": k.layer, "mass": float(np.abs(m).sum())}
        for k, m in c.stored.maps.items()
    ]


@pytest.mark.slow
def test_evaluate_stage_end_to_end(tmp_path, monkeypatch):
    """The whole stage, with a toy metric added as a new metric is: one ``Metric`` and one
    registry line; its table is written beside the others."""
    from seginterp.core.registry import Registry
    from seginterp.evaluate import run
    from seginterp.evaluate.measure import Metric

    extended = Registry("metric")
    for metric in [*(run.METRICS.get(n) for n in run.METRICS), Metric("map_mass", _map_mass)]:
        extended.add(metric.name, metric)
    monkeypatch.setattr(run, "METRICS", extended)
    monkeypatch.chdir(tmp_path)  # the run logs go to ./logs
    mdir, plots = _run_stages(tmp_path)
    toy = pd.read_parquet(tmp_path / "eval" / "map_mass.parquet")
    assert len(toy) == 3 * (3 + 2 * len(LAYERS)) and (toy["mass"] > 0).all()
    assert list(dict.fromkeys(toy["id"])) == ["im0", "im2", "im3"]
    for name in ("fragility", "sanity", "regions"):  # timings live in the run log only
        assert "seconds" not in json.loads((mdir / f"{name}.json").read_text())
    assert "seconds" not in pd.read_parquet(tmp_path / "eval" / "sensitivity.parquet")
    log = json.loads((tmp_path / "logs" / "t" / "evaluate.json").read_text())
    assert set(log["seconds"]) == {
        "fragility", "layer_fragility", "regions", "localisation", "complexity", "sensitivity",
        "deletion", "regions_null", "regions_baseline", "sanity", "cascade", "map_mass", "results",
        "figures", "total",
    }  # fmt: skip
    deletion = pd.read_parquet(tmp_path / "eval" / "deletion.parquet")
    assert list(dict.fromkeys(deletion["method"]))[-1] == "random"  # the chance line, per image
    assert deletion.groupby("id").size().tolist() == [3 + 1] * 3  # the model maps + random
    layers = LAYERS
    frag = json.loads((mdir / "fragility.json").read_text())
    assert frag["n_images"] == 4 and frag["n_without_border"] == 1 and frag["n_evaluated"] == 3
    assert frag["without_border_by_status"] == {"empty_prediction": 1}
    blk = frag["infidelity"]["sigma_0p1"]["unnormalized"]
    sal = blk["model"]["saliency"]
    assert sal["infidelity"]["n"] == 3 and sal["mode"] == "one-pass"
    assert {"infidelity", "zero_infidelity", "skill_ratio_of_means", "verdict"} <= set(sal)
    gbp = blk["model"]["guided_backprop"]
    assert gbp["mode"] == "sampled(8)" and gbp["scored_function"] == "sample_mean(8)"
    assert list(blk["layer"]["gradcam"]) == layers
    assert "saliency_vs_deeplift" in blk["pairwise_model"]
    assert "gradcam@bottleneck_vs_deeplift@bottleneck" in blk["pairwise_layer"]
    assert list(blk["layer_paper_bilinear"]["deeplift"]) == layers
    assert set(frag["layer_ranking"]["sigma_0p03"]["by_method"]) == {"gradcam", "deeplift"}
    sens = frag["sensitivity"]
    assert sens["n_images"] == 1 and set(sens["model"]) == {
        "saliency",
        "deeplift",
        "guided_backprop",
    }
    assert sens["recompute_rel_l2_max"] < 1e-4  # the recomputed maps are the stored ones
    assert sens["functions"]["guided_backprop"] == "sample_mean(5)"  # reduced from sampled(8)
    assert sens["functions"]["saliency"] == "border_mean"  # one-pass: never reduced
    regions = json.loads((mdir / "regions.json").read_text())
    assert regions["model"]["deeplift"]["n"] == 3
    assert list(regions["border_focus"]["gradcam"]) == layers
    sanity = json.loads((mdir / "sanity.json").read_text())
    assert sanity["n_images"] == 2 and len(sanity["methods"]["saliency"]["per_image"]) == 2
    assert sanity["functions"] == {
        "saliency": "border_mean",
        "deeplift": "border_mean",
        "guided_backprop": "sample_mean(5)",
    }
    cascade = sanity["cascade"]
    assert cascade["n_images"] == 2 and cascade["steps"][0]["block"] == "head"
    blocks = [s["block"] for s in cascade["steps"]]  # every layer, from the output back
    assert blocks[1] == "decoder5" and blocks[-1] == "encoder1" and len(blocks) == 1 + 10
    curve = cascade["methods"]["saliency"]
    assert len(curve) == len(blocks) and curve[0]["ssim"]["n"] == 2
    assert -1 <= curve[-1]["spearman_abs"]["mean"] <= 1

    df = pd.read_parquet(tmp_path / "eval" / "fragility.parquet")
    act = pd.read_parquet(tmp_path / "eval" / "layer_fragility.parquet")
    # images × σ × normalize × (model maps + layer maps under the paper's convention; layer maps
    # in activation space in their own table, with their layer's gradient reference)
    assert len(df) == 3 * 2 * 2 * (3 + 2 * len(layers)) and len(act) == 3 * 2 * 2 * 2 * len(layers)
    assert set(df["convention"]) == {"input", "paper_bilinear"}
    assert set(act["convention"]) == {"activation"} and act["ceiling_infidelity"].notna().all()
    assert set(df["id"]) == set(act["id"]) == {"im0", "im2", "im3"}
    for name in ("maps.png", "layers_gradcam.png", "layers_deeplift.png"):
        with Image.open(plots / "figures" / name) as im:
            assert im.format == "PNG" and (plots / "figures" / name).stat().st_size > 0
    csv = pd.read_csv(plots / "layer_infidelity" / "gradcam.csv")
    assert list(csv["layer"]) == layers and {"layer_index", "infidelity", "skill"} <= set(csv)
    assert list(pd.read_csv(plots / "layer_regions" / "deeplift.csv")["layer"]) == layers
    assert len(pd.read_csv(plots / "cascade" / "saliency.csv")) == 1 + 10  # head + every layer

    claims = json.loads((mdir / "claims.json").read_text())
    assert claims["dataset"] == "t" and claims["n_images"] == 3
    tallied = sum(claims["counts"].values()) + sum(claims["counts_beyond"].values())
    beyond = sum(claims["counts_beyond"].values())
    assert tallied == len(claims["claims"]) >= 8 and beyond == 2 + 2  # border: 2, agreement: 2
    agree = {c["id"]: c for c in claims["claims"] if c["id"].startswith("agreement_")}
    assert set(agree) == {"agreement_deletion", "agreement_insertion"}
    assert all(c["ours"].startswith("Kendall τ") and "ranks" in c["why"] for c in agree.values())
    assert claims["claims"][0]["why"] == "no paper figure for this dataset"
    assert (mdir / "claims.md").read_text().startswith("Claims of the paper on `t`")
    summary = json.loads((mdir / "summary.json").read_text())
    assert summary["n"] == {"test": 4, "scored": 3} and "mDice" in summary["test"]
    methods = json.loads((mdir / "methods.json").read_text())
    assert set(methods["infd"]) == {"sal", "dl", "gbp"} and methods["sigma"] == 0.03
    null = pd.read_parquet(tmp_path / "eval" / "regions_null.parquet")
    assert set(null["weights"]) == {"trained", "randomized"} and null["id"].nunique() == 3
    for table in (pd.read_parquet(tmp_path / "eval" / "regions.parquet"), null):
        # the change each map explains, under its own model: Δf = f(x) − f(x₀)
        assert table["delta_f"].notna().all()
        assert np.allclose(table["delta_f"], table["f_x"] - table["f_x0"])
    by_weights = null.groupby("weights")["f_x"].mean()
    assert by_weights["trained"] != by_weights["randomized"]
    assert regions["null"]["n_images"] == 3
    _documents_from_results_alone(tmp_path / "eval" / "results.parquet", mdir, frag, layers)


def _documents_from_results_alone(path, mdir, frag, layers):
    """Every metrics document is a view of results.parquet: rebuilt from it (and the run's
    settings and image counts), each equals the document the stage wrote."""
    from seginterp.evaluate.config import EvaluateConfig
    from seginterp.evaluate.render.context import Context
    from seginterp.evaluate.render.documents import documents
    from seginterp.evaluate.results.table import Results
    from seginterp.explain.layers import layer_table

    params = yaml.safe_load((path.parents[1] / "params.yaml").read_text())
    counts = {k: frag[k] for k in ("n_images", "n_with_border", "n_without_border",
              "without_border_by_status", "n_not_attributed", "n_evaluated")}  # fmt: skip
    attribute = params["t"]["attribute"]
    ctx = Context("t", None, EvaluateConfig.from_params(params, "t"), counts,
                  tuple(layer_table(tiny_unet())), {}, attribute["methods"],
                  attribute["layer_methods"])  # fmt: skip
    docs = documents(Results(pd.read_parquet(path)), ctx)
    assert set(docs) == {"fragility", "regions", "sanity", "claims", "summary", "methods",
                         "agreement"}  # fmt: skip
    for name, doc in docs.items():
        assert json.loads(json.dumps(doc)) == json.loads((mdir / f"{name}.json").read_text()), name
    blk = docs["fragility"]["infidelity"]["sigma_0p03"]["unnormalized"]
    assert list(blk["layer"]["gradcam"]) == layers


@pytest.mark.slow
def test_evaluate_without_any_border_writes_inconclusive_claims(tmp_path):
    """No explainable image: every declared output is written, nothing stale stays behind."""
    stale = tmp_path / "metrics" / "plots" / "figures" / "layers_gradcam.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an earlier run's figure")
    mdir, plots = _run_stages(tmp_path, no_border=True)
    assert not stale.exists()
    assert sorted(p.name for p in (plots / "figures").iterdir()) == ["maps.png"]
    with Image.open(plots / "figures" / "maps.png") as im:
        assert im.format == "PNG"
    for kind, column in (("layer_infidelity", "skill"), ("layer_regions", "band_share")):
        for method in ("gradcam", "deeplift"):
            table = pd.read_csv(plots / kind / f"{method}.csv")
            assert len(table) == 0 and {"layer_index", "layer", column} <= set(table)
    for name in ("fragility", "sensitivity", "regions", "sanity", "regions_null", "deletion",
                 "cascade"):  # fmt: skip
        assert len(pd.read_parquet(tmp_path / "eval" / f"{name}.parquet")) == 0
    claims = json.loads((mdir / "claims.json").read_text())
    inconclusive = claims["counts"]["inconclusive"] + claims["counts_beyond"]["inconclusive"]
    assert claims["n_images"] == 0 and inconclusive == len(claims["claims"])
    assert {c["why"] for c in claims["claims"][1:]} == {"no explainable image"}
    assert "0 explained test images" in (mdir / "claims.md").read_text()
    summary = json.loads((mdir / "summary.json").read_text())
    assert summary["n"] == {"test": 4, "scored": 0} and "skill" not in summary
    assert summary["why"] == "no test prediction has a border (empty_prediction: 4)"
    assert json.loads((mdir / "methods.json").read_text()) == {"sigma": None}
    agreement = json.loads((mdir / "agreement.json").read_text())
    assert agreement == {"why": "fewer than 2 methods or 2 faithfulness tests have scores"}
