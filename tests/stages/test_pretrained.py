"""End to end: `dvc repro` on a folder of the user's images with a model trained elsewhere
(`model.pretrained`, an smp save_pretrained folder) and `train.epochs: 0`: train imports it and
takes no step, every later stage runs on it, and a changed checkpoint reruns train."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
import yaml
from PIL import Image
from support import make_repo, run_cmd, status_clean, tiny_params, user_discs

from seginterp.model.net import load_model

DEC = [16, 8, 8, 4, 4]


def elsewhere(folder: Path, out: Path, steps: int) -> smp.Unet:
    """A U-Net trained outside the pipeline for ``steps`` Adam steps on the folder, saved with
    smp's save_pretrained at ``out``."""
    torch.manual_seed(0)
    model = smp.Unet("resnet18", encoder_weights=None, classes=1, decoder_channels=DEC)
    files = sorted((folder / "images").glob("*.png"))
    x = torch.stack([torch.from_numpy(np.array(Image.open(f))).permute(2, 0, 1) for f in files])
    y = torch.stack(
        [torch.from_numpy(np.array(Image.open(folder / "masks" / f.name))) for f in files]
    )
    x, y = x.float() / 255, (y > 0).float()[:, None]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(x), y).backward()
        opt.step()
    model.eval().save_pretrained(out)
    return model


@pytest.mark.slow
def test_a_model_trained_elsewhere_runs_the_whole_pipeline_untrained(tmp_path) -> None:
    folder = user_discs(tmp_path / "user")
    theirs = elsewhere(folder, tmp_path / "their_unet", steps=15)
    params = tiny_params()
    section = params.pop("synthetic")
    section["download"] = {"source": "folder", "path": str(folder)}
    section["model"].update(decoder_channels=DEC, pretrained=str(tmp_path / "their_unet"))
    section["train"]["epochs"] = 0
    params.update(datasets=["folder"], folder=section)
    repo, env = make_repo(tmp_path, params)
    dvc = [sys.executable, "-m", "dvc"]
    out = run_cmd([*dvc, "repro"], repo, env)

    for stage in ("train", "predict", "borders", "attribute", "evaluate"):
        assert f"Running stage '{stage}@folder-0'" in out, stage
    assert "Running stage 'pool@folder'" in out
    model_dir = repo / "data" / "folder" / "replicates" / "0" / "model"
    model, _, extra = load_model(model_dir / "model.pt")
    for key, value in theirs.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key  # imported, not trained
    summary = json.loads((model_dir / "train.json").read_text())
    assert summary["epochs"] == 0 and summary["best_epoch"] == 0 and extra["epochs"] == 0
    assert summary["pretrained"]["path"] == str(tmp_path / "their_unet")
    live = repo / "dvclive" / "folder" / "0"
    assert json.loads((live / "metrics.json").read_text())["epochs_run"] == 0
    assert not (live / "plots" / "metrics" / "train").exists()  # no training step logged
    assert status_clean(run_cmd([*dvc, "status"], repo, env))
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    for name, stage in lock["stages"].items():
        for o in stage.get("outs", []):
            assert (repo / o["path"]).exists(), (name, o["path"])
    assert (repo / "metrics" / "folder" / "claims.json").is_file()

    elsewhere(folder, tmp_path / "their_unet", steps=16)  # the checkpoint changes
    run_cmd([*dvc, "repro", "check@folder"], repo, env)
    status = run_cmd([*dvc, "status"], repo, env)
    assert "train@folder-0" in status and "download@folder" not in status, status
