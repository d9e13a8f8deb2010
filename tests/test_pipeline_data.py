"""End to end: the project's download + preprocess stages under a real, isolated `dvc repro`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("download", "preprocess")

PARAMS = {
    "datasets": ["synthetic"],
    "synthetic": {
        "download": {"source": "synthetic", "n_images": 24, "size": 32, "seed": 0},
        "preprocess": {
            "image_size": 32,
            "split": {"train": 0.75, "val": 0.125, "test": 0.125},
            "seed": 0,
        },
    },
}


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}):\n{out}")
    return out


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A git + DVC repository holding the project's stages, library and a tiny params.yaml."""
    repo = tmp_path / "repo"
    repo.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "stages", repo / "stages", ignore=ignore)
    # A copy, not a symlink: DVC does not hash through a symlinked directory dep.
    shutil.copytree(ROOT / "src", repo / "src", ignore=ignore)
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    pipeline["stages"] = {k: v for k, v in pipeline["stages"].items() if k in STAGES}
    assert set(pipeline["stages"]) == set(STAGES)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    (repo / "params.yaml").write_text(yaml.safe_dump(PARAMS, sort_keys=False))
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(tmp_path / "dvc-site"),
        "DVC_GLOBAL_CONFIG_DIR": str(tmp_path / "dvc-global"),
        "DVC_SYSTEM_CONFIG_DIR": str(tmp_path / "dvc-system"),
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    _run(["git", "init", "-q"], repo, env)
    _run([sys.executable, "-m", "dvc", "init", "-q"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-q", "-m", "init"], repo, env)
    return repo, env


@pytest.mark.slow
def test_dvc_repro_download_and_preprocess(repo: tuple[Path, dict[str, str]]) -> None:
    path, env = repo
    dvc = [sys.executable, "-m", "dvc"]
    out = _run([*dvc, "repro"], path, env)
    assert "Running stage 'download@synthetic'" in out
    assert "Running stage 'preprocess@synthetic'" in out

    prepared = path / "data" / "synthetic" / "prepared"
    expected = {"train": 18, "val": 3, "test": 3}
    for split, n in expected.items():
        x = np.load(prepared / f"{split}_images.npy", mmap_mode="r")
        y = np.load(prepared / f"{split}_masks.npy", mmap_mode="r")
        assert x.shape == (n, 32, 32, 3) and x.dtype == np.uint8
        assert y.shape == (n, 32, 32) and set(np.unique(y)) <= {0, 1}
    meta = yaml.safe_load((prepared / "meta.json").read_text())
    assert meta["counts"] == expected and meta["n_found"] == 24 and meta["n_rejected"] == 0
    assert (prepared / "manifest.parquet").is_file()
    assert (prepared / "rejects.csv").read_text().splitlines() == ["file,reason"]
    assert len(list((path / "data" / "synthetic" / "raw" / "images").iterdir())) == 24

    assert "up to date" in _run([*dvc, "status"], path, env)
    again = _run([*dvc, "repro"], path, env)
    assert "Running stage" not in again
    assert "didn't change, skipping" in again

    # a preprocess param change reruns preprocess only
    params = yaml.safe_load((path / "params.yaml").read_text())
    params["synthetic"]["preprocess"]["image_size"] = 24
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    third = _run([*dvc, "repro"], path, env)
    assert "Running stage 'preprocess@synthetic'" in third
    assert "Running stage 'download@synthetic'" not in third
    assert np.load(prepared / "train_images.npy", mmap_mode="r").shape == (18, 24, 24, 3)
