"""`seginterp explain`: the README's command lines on small models in the three formats, the
files each writes, and one clear line for what cannot be explained."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import segmentation_models_pytorch as smp
import torch
from click.testing import CliRunner
from PIL import Image

from seginterp.cli import main
from seginterp.model.net import ModelConfig, build_model, save_model

README = Path(__file__).resolve().parents[1] / "README.md"
SMALL = ["--methods", "saliency,deeplift", "--layer-methods", "gradcam,deeplift", "--layers",
         "encoder1"]  # fmt: skip
"""Appended to the README's lines: fewer maps, so the test stays small."""


def readme_commands() -> list[list[str]]:
    section = README.read_text().split("## Explain your own model")[1].split("\n## ")[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "README: no command lines under 'Explain your own model'"
    lines = block.group(1).replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.strip()]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """image.png, and one small model per format, named as in the README."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save("image.png")
    torch.manual_seed(0)
    cfg = ModelConfig(decoder_channels=(8, 8, 4, 4, 4))
    save_model("model.pt", build_model(cfg).eval(), cfg)
    smp.Unet("resnet18", encoder_weights=None, decoder_channels=(8, 8, 4, 4, 4)).save_pretrained(
        "my_unet"
    )
    three = smp.Unet("resnet18", encoder_weights=None, classes=3)
    torch.save(three.state_dict(), "weights.pt")
    return tmp_path


def test_the_readme_lines_explain_each_format(workdir):
    commands = readme_commands()
    assert [c[0:2] for c in commands] == [["seginterp", "explain"]] * 3
    for command in commands:
        result = CliRunner().invoke(main, [*command[1:], *SMALL])
        assert result.exit_code == 0, (command, result.output)
    out = workdir / "explained"
    stems = ["image"] + [f"image.class{k}" for k in range(3)]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{s}.{ext}" for s in stems for ext in ("json", "npz", "png")
    )
    summary = json.loads((out / "image.class2.json").read_text())
    assert summary["class"] == 2 and summary["border_pixels"] > 0 and summary["seconds"] > 0
    assert set(summary["maps"]) == {"saliency", "deeplift", "gradcam@encoder1", "deeplift@encoder1"}
    for label in ("deeplift", "deeplift@encoder1"):  # the layer's sum at its own resolution
        dl = summary["maps"][label]
        assert dl["completeness"] == "exact", label
        assert dl["sum"] == pytest.approx(dl["delta_f"], rel=1e-3), label
    with np.load(out / "image.npz") as npz:
        assert {"border", "status", "model/deeplift", "layer/gradcam/encoder1"} <= set(npz.files)


def test_what_cannot_be_explained_is_one_line(workdir):
    torch.save(torch.nn.Conv2d(3, 1, 1), "pickled.pt")
    Image.fromarray(np.zeros((64, 64), dtype=np.uint8)).save("grey.png")
    Path("broken.png").write_bytes(b"not an image")
    cases = {
        ("image.png", "--model", "pickled.pt"): "pickled model object",
        ("grey.png", "--model", "model.pt"): "a L image with 1 channel(s)",
        ("broken.png", "--model", "model.pt"): "not a readable image",
        ("image.png", "--model", "weights.pt"): "does not say which model",
        ("image.png", "--model", "model.pt", "--class", "x"): "a class index or 'all'",
        ("image.png", "--model", "model.pt", "--layers", "decoder9"): "Unknown layer 'decoder9'",
    }
    for args, message in cases.items():
        result = CliRunner().invoke(main, ["explain", *args, "--out", "out"])
        assert result.exit_code != 0 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output


def test_help_answers_without_loading_torch():
    code = "import sys; from seginterp.cli import main; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    result = CliRunner().invoke(main, ["explain", "--help"])
    assert result.exit_code == 0 and "--architecture" in result.output
