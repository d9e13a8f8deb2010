"""The train stage as a process: SIGKILL mid-training, rerun, and it resumes to the same model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from support import ROOT, run_cmd

from seginterp.model.net import load_model

PARAMS = {
    "tiny": {
        "download": {"source": "synthetic", "n_images": 24, "size": 32, "seed": 0},
        "preprocess": {"image_size": 32, "split": {"train": 0.5, "val": 0.25, "test": 0.25}},
        "model": {"encoder": "resnet18", "decoder_channels": [16, 8, 8, 4, 4]},
        "train": {"epochs": 4, "batch_size": 4, "seed": 1, "device": "cpu"},
    }
}


def train_cmd(tmp: Path, name: str) -> list[str]:
    return [
        sys.executable, str(ROOT / "stages" / "train.py"), "--dataset", "tiny",
        "--prepared", str(tmp / "prepared"), "--out", str(tmp / name / "model"),
        "--live", str(tmp / name / "live"), "--params", str(tmp / "params.yaml"),
    ]  # fmt: skip


@pytest.mark.slow
def test_killed_training_resumes_to_the_same_model(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = ["--params", str(tmp_path / "params.yaml"), "--dataset", "tiny"]
    run_cmd([sys.executable, str(ROOT / "stages/download.py"), *p, "--out", "raw"], tmp_path, env)
    run_cmd(
        [
            sys.executable,
            str(ROOT / "stages/preprocess.py"),
            *p,
            "--raw",
            "raw",
            "--out",
            "prepared",
        ],
        tmp_path,
        env,
    )
    run_cmd(train_cmd(tmp_path, "full"), tmp_path, env)

    checkpoint = tmp_path / "cut" / "resume" / "last.pt"
    proc = subprocess.Popen(
        train_cmd(tmp_path, "cut"), cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "training ended before it could be killed"
    assert checkpoint.exists() and not (tmp_path / "cut" / "model" / "model.pt").exists()

    log = run_cmd(train_cmd(tmp_path, "cut"), tmp_path, env)
    assert "resuming from" in log
    assert not checkpoint.exists()  # removed after the successful run
    full, _, extra_full = load_model(tmp_path / "full" / "model" / "model.pt")
    cut, _, extra_cut = load_model(tmp_path / "cut" / "model" / "model.pt")
    assert extra_full == extra_cut
    for (k, a), b in zip(full.state_dict().items(), cut.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=k)
