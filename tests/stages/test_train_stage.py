"""The train stage as a process: two runs in separate processes, and one SIGKILLed mid-training
and rerun, give the same bytes (model.pt, train.json, dvclive's files)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support import ROOT, run_cmd

PARAMS = {
    "tiny": {
        "download": {"source": "synthetic", "n_images": 24, "size": 32, "seed": 0},
        "preprocess": {"image_size": 32, "split": {"train": 0.5, "val": 0.25, "test": 0.25}},
        "model": {"encoder": "resnet18", "decoder_channels": [16, 8, 8, 4, 4]},
        "train": {"epochs": 4, "batch_size": 4, "seed": 1, "device": "cpu"},
    },
    "scale": {"cpu_threads": 2},
}


def digests(run_dir: Path) -> dict[str, str]:
    """sha256 of every file a train run wrote (model directory and dvclive directory)."""
    return {
        p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and "resume" not in p.parts
    }


def train_cmd(tmp: Path, name: str) -> list[str]:
    return [
        sys.executable, str(ROOT / "stages" / "train.py"), "--dataset", "tiny",
        "--prepared", str(tmp / "prepared"), "--out", str(tmp / name / "model"),
        "--live", str(tmp / name / "live"), "--params", str(tmp / "params.yaml"),
    ]  # fmt: skip


@pytest.mark.slow
def test_train_is_byte_identical_across_processes_and_after_a_kill(tmp_path: Path) -> None:
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
    run_cmd(train_cmd(tmp_path, "again"), tmp_path, env)

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
    assert checkpoint.exists()  # kept: a longer run continues from it
    full = digests(tmp_path / "full")
    assert {"model/model.pt", "model/train.json", "live/metrics.json"} <= set(full)
    assert digests(tmp_path / "again") == full
    assert digests(tmp_path / "cut") == full
