"""Every bad param is refused by the check stage, one line each, before any stage computes."""

from __future__ import annotations

import copy
import logging
import runpy
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from support import ROOT, isolated_env, run_cmd, user_folder

from seginterp.check import check_dataset
from seginterp.core.params import load_params

PARAMS = load_params(ROOT / "params.yaml")


def _with(section: str, key: str, value: object) -> dict:
    p = copy.deepcopy(PARAMS)
    p["synthetic"][section][key] = value
    return p


def test_the_project_params_are_valid() -> None:
    """Every dataset section of params.yaml, laid on `defaults` (folder with a path set)."""
    for dataset in ("synthetic", "kvasir-seg", "ham10000", "folder"):
        p = copy.deepcopy(PARAMS)
        p["datasets"] = [dataset]
        p["folder"]["download"]["path"] = "/some/folder"
        assert check_dataset(p, dataset) == [], dataset


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("train", "epochs", -1, "synthetic.train.epochs must be >= 0 (0: an imported model"),
        ("train", "epochs", 0, "synthetic.train: epochs 0 keeps an imported model: set model.pre"),
        ("model", "pretrained", "nope.pt", "synthetic.model: pretrained 'nope.pt': no such file"),
        ("train", "lr_schedule", "step", "synthetic.train.lr_schedule must be one of none, pla"),
        ("train", "num_workers", "many", "synthetic.train.num_workers must be >= 0 or auto, g"),
        ("train", "checkpoint_every", 0, "synthetic.train.checkpoint_every must be >= 1, got 0"),
        ("predict", "threshold", 1.5, "synthetic.predict.threshold must be in (0, 1), got 1.5"),
        ("attribute", "methods", ["foo"], "synthetic.attribute: Unknown method 'foo'. Valid"),
        ("attribute", "layers", ["decoder9"], "synthetic.attribute: layers with model.architec"),
        ("attribute", "layers", ["fpn_p5"], "synthetic.attribute: layers with model.architec"),
        ("model", "encoder", "resnet999", "synthetic.model: encoder 'resnet999' is not supported"),
        ("model", "architecture", "unetpp", "synthetic.model: Unknown architecture 'unetpp'."),
        ("attribute", "layers", "every", "synthetic.attribute.layers must be a list of layer"),
        ("train", "epoch", 3, "synthetic.train: unknown key(s) epoch; valid keys: epochs"),
        ("evaluate", "sigma", 1, "synthetic.evaluate: unknown key(s) sigma; valid keys:"),
    ],
)
def test_each_bad_param_is_one_clear_line(section, key, value, expected) -> None:
    errors = check_dataset(_with(section, key, value), "synthetic")
    assert len(errors) == 1, errors
    assert errors[0].startswith(expected), errors[0]
    assert "\n" not in errors[0]


def test_a_layer_error_lists_the_configured_models_layers() -> None:
    """An unknown name and a name of another architecture alike: the model's ten, no others."""
    unet = "encoder1, encoder2, encoder3, encoder4, bottleneck, decoder1, decoder2, decoder3"
    for name in ("decoder9", "fpn_p5"):
        (error,) = check_dataset(_with("attribute", "layers", [name]), "synthetic")
        assert f"'{name}'" in error and f"{unet}, decoder4, decoder5" in error, error
        assert "fpn_p4" not in error and "aspp" not in error, error


def test_all_problems_are_reported_at_once() -> None:
    p = _with("train", "epochs", -1)
    p["synthetic"]["predict"]["threshold"] = 2.0
    assert [e.split(":")[0].split(".")[1] for e in check_dataset(p, "synthetic")] == [
        "train",
        "predict",
    ]


def test_stage_exits_with_the_lines_and_no_traceback(tmp_path: Path) -> None:
    cmd = runpy.run_path(str(ROOT / "stages" / "check.py"), run_name="probe")["main"]
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(_with("train", "epochs", -1)))
    out = tmp_path / "checked"
    args = ["--dataset", "synthetic", "--out", str(out), "--watch", str(tmp_path / "w.json")]
    args += ["--pretrained", str(tmp_path / "m.json"), "--params"]
    r = CliRunner().invoke(cmd, [*args, str(bad)])
    assert r.exit_code == 1 and not out.exists()
    assert r.output.startswith("Error: synthetic.train.epochs must be >= 0 (0: an imported")
    assert "Traceback" not in r.output
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(PARAMS))
    r = CliRunner().invoke(cmd, [*args, str(good)])
    assert r.exit_code == 0, r.output
    assert yaml.safe_load(out.read_text()) == PARAMS["synthetic"]  # the effective params


@pytest.mark.slow
def test_dvc_reruns_download_when_the_folder_changes(tmp_path: Path) -> None:
    """The check stage (always changed) + download depending on its file: DVC 3 reruns download
    only when the user's files changed, and leaves dvc.lock alone otherwise."""
    repo, user = tmp_path / "repo", user_folder(tmp_path / "user")
    repo.mkdir()
    params = copy.deepcopy(PARAMS)
    params["datasets"] = ["folder"]
    params["folder"]["download"]["path"] = str(user)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    py, stage = sys.executable, (ROOT / "stages" / "download.py").as_posix()
    check = (ROOT / "stages" / "check.py").as_posix()
    pipeline = {
        "stages": {
            "check": {
                "foreach": "${datasets}",
                "do": {
                    "cmd": f"{py} {check} --dataset ${{item}} --out data/${{item}}/checked "
                    "--watch data/${item}/watched.json --pretrained data/${item}/pretrained.json",
                    "always_changed": True,
                    "outs": [
                        "data/${item}/checked",
                        "data/${item}/watched.json",
                        "data/${item}/pretrained.json",
                    ],
                },
            },
            "download": {
                "foreach": "${datasets}",
                "do": {
                    "cmd": f"{py} {stage} --dataset ${{item}} --out data/${{item}}/raw",
                    "deps": ["data/${item}/watched.json"],
                    "params": ["${item}.download"],
                    "outs": ["data/${item}/raw"],
                },
            },
        }
    }
    (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    (repo / ".gitignore").write_text("/data/*/downloads/\n")
    env = isolated_env(tmp_path)
    dvc = [py, "-m", "dvc"]
    for cmd in (["git", "init", "-q"], [*dvc, "init", "-q"]):
        run_cmd(cmd, repo, env)

    def repro() -> str:
        out = run_cmd([*dvc, "repro"], repo, env, timeout=300)
        return "download" if "Running stage 'download@folder'" in out else "-"

    assert repro() == "download"
    lock = (repo / "dvc.lock").read_text()
    assert repro() == "-" and (repo / "dvc.lock").read_text() == lock
    (user / "masks" / "c.png").write_bytes(b"new mask")
    assert repro() == "download"
    assert (repo / "data" / "folder" / "raw" / "masks" / "c.png").read_bytes() == b"new mask"
    (user / "masks" / "a.png").write_bytes(b"masks-A")  # same size, other content
    assert repro() == "download"
    assert (repo / "data" / "folder" / "raw" / "masks" / "a.png").read_bytes() == b"masks-A"


def test_bad_thread_count_is_one_line() -> None:
    p = copy.deepcopy(PARAMS)
    p["scale"]["cpu_threads"] = 0
    assert check_dataset(p, "synthetic") == [
        "scale.cpu_threads must be an integer >= 1 or null, got 0"
    ]


def test_bad_replicates_are_one_line() -> None:
    p = copy.deepcopy(PARAMS)
    p["replicates"] = [0, 0]
    assert check_dataset(p, "synthetic") == [
        "params.yaml: replicates must be a list of distinct training seeds >= 0, e.g. [0, 1, 2], "
        "got [0, 0]"
    ]


def test_bad_numerics_and_a_cpu_that_cannot_be_portable_are_one_line(monkeypatch) -> None:
    from seginterp.core import determinism

    p = copy.deepcopy(PARAMS)
    p["scale"]["numerics"] = "fast"
    assert check_dataset(p, "synthetic") == [
        "scale.numerics must be one of portable, native, got 'fast'"
    ]
    p["scale"]["numerics"] = "portable"
    monkeypatch.setattr(determinism, "missing_cpu_flags", lambda *a: ["avx2", "fma"])
    assert check_dataset(p, "synthetic") == [
        "scale.numerics: portable needs avx2 and fma; set scale.numerics: native (results then "
        "repeat on this machine only)"
    ]
    p["scale"]["numerics"] = "native"
    assert check_dataset(p, "synthetic") == []


def test_the_architecture_is_checked_with_the_encoder_the_image_size_and_the_layers() -> None:
    """The default layers (``all``) and Guided Grad-CAM layer (``last``) fit every architecture;
    named ones are checked against the architecture's table."""
    p = copy.deepcopy(PARAMS)
    p["synthetic"]["model"]["architecture"] = "deeplabv3plus"
    p["synthetic"]["attribute"]["layers"] = "all"
    p["synthetic"]["attribute"]["guided_gradcam_layer"] = "decoder5"
    assert check_dataset(p, "synthetic") == [
        "synthetic.attribute: guided_gradcam_layer with model.architecture 'deeplabv3plus': "
        "layer 'decoder5' does not exist in this model; valid layers: encoder1, encoder2, "
        "encoder3, encoder4, bottleneck, aspp, skip_proj, decoder_out"
    ]
    p["synthetic"]["attribute"]["guided_gradcam_layer"] = "decoder_out"
    assert check_dataset(p, "synthetic") == []
    p["synthetic"]["attribute"]["guided_gradcam_layer"] = "last"  # = decoder_out here
    assert check_dataset(p, "synthetic") == []
    p["synthetic"]["attribute"]["layers"] = ["encoder1", "decoder1"]
    (line,) = check_dataset(p, "synthetic")
    assert line.startswith(
        "synthetic.attribute: layers with model.architecture 'deeplabv3plus': layer 'decoder1' "
        "does not exist in this model; valid layers: encoder1"
    )
    p["synthetic"]["attribute"]["layers"] = "all"
    p["synthetic"]["model"]["encoder"] = "vgg11_bn"
    p["synthetic"]["preprocess"]["image_size"] = 100
    (line,) = check_dataset(p, "synthetic")
    assert line.startswith("synthetic.model: architecture 'deeplabv3plus' with encoder 'vgg11_bn'")
    assert "do not support dilated mode" in line and "image_size 100" in line
    p["synthetic"]["model"]["encoder"] = "resnet18"
    p["synthetic"]["model"]["architecture"] = "unetplusplus"
    (line,) = check_dataset(p, "synthetic")
    assert "divisible by 32" in line


def test_methods_the_architecture_cannot_run_are_a_warning_not_an_error(caplog) -> None:
    """FPN runs every stage: DeepLIFT (not exact through GroupNorm) is skipped, said up front."""
    p = copy.deepcopy(PARAMS)
    p["synthetic"]["model"]["architecture"] = "fpn"
    p["synthetic"]["attribute"]["layers"] = "all"
    with caplog.at_level(logging.WARNING, logger="seginterp.check"):
        assert check_dataset(p, "synthetic") == []
    (line,) = caplog.messages
    assert line.startswith(
        "synthetic.attribute: deeplift is skipped on model.architecture 'fpn': DeepLIFT cannot be "
        "exact on FPN: decoder.seg_blocks.0.block.0.block.1: GroupNorm is not affine"
    ), line
