"""End to end: the project's download + preprocess stages under a real, isolated `dvc repro`."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import ran_stages, run_cmd, small_synthetic_params, status_clean

STAGES = ("check", "download", "preprocess")
PARAMS = small_synthetic_params()


@pytest.fixture
def repo(dvc_repo) -> tuple[Path, dict[str, str]]:
    return dvc_repo(PARAMS, STAGES)


@pytest.mark.slow
def test_dvc_repro_download_and_preprocess(repo: tuple[Path, dict[str, str]]) -> None:
    path, env = repo
    dvc = [sys.executable, "-m", "dvc"]
    out = run_cmd([*dvc, "repro"], path, env)
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

    assert status_clean(run_cmd([*dvc, "status"], path, env))
    again = run_cmd([*dvc, "repro"], path, env)
    assert ran_stages(again) == []
    assert "didn't change, skipping" in again

    # a preprocess param change reruns preprocess only
    params = yaml.safe_load((path / "params.yaml").read_text())
    params["synthetic"]["preprocess"]["image_size"] = 24
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    third = run_cmd([*dvc, "repro"], path, env)
    assert "Running stage 'preprocess@synthetic'" in third
    assert ran_stages(third) == ["preprocess@synthetic"]
    assert np.load(prepared / "train_images.npy", mmap_mode="r").shape == (18, 24, 24, 3)
