"""Shared fixtures: an isolated git + DVC repository holding the project's pipeline."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import ROOT, isolated_env, run_cmd

RepoFactory = Callable[..., tuple[Path, dict[str, str]]]


@pytest.fixture
def dvc_repo(tmp_path: Path) -> RepoFactory:
    """Factory: a git + DVC repo with the project's stages/, src/, dvc.yaml (optionally only
    some stages), .gitignore and the given params.yaml, committed, in ``tmp_path/<name>``.
    Returns (path, env)."""

    def make(
        params: Mapping[str, Any], stages: Iterable[str] | None = None, name: str = "repo"
    ) -> tuple[Path, dict[str, str]]:
        repo = tmp_path / name
        repo.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        shutil.copytree(ROOT / "stages", repo / "stages", ignore=ignore)
        # A copy, not a symlink: DVC does not hash through a symlinked directory dep.
        shutil.copytree(ROOT / "src", repo / "src", ignore=ignore)
        pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
        if stages is not None:
            keep = set(stages)
            pipeline["stages"] = {k: v for k, v in pipeline["stages"].items() if k in keep}
            missing = keep - set(pipeline["stages"])
            if missing:
                raise ValueError(f"dvc.yaml has no stage(s) {sorted(missing)}")
        (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
        (repo / "params.yaml").write_text(yaml.safe_dump(dict(params), sort_keys=False))
        shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
        env = isolated_env(tmp_path)
        run_cmd(["git", "init", "-q"], repo, env)
        run_cmd([sys.executable, "-m", "dvc", "init", "-q"], repo, env)
        run_cmd(["git", "add", "-A"], repo, env)
        run_cmd(["git", "commit", "-q", "-m", "init"], repo, env)
        return repo, env

    return make


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run the test on one torch thread (restored afterwards): faster under the parallel test
    load, and float32 results repeat bit for bit (on 2 threads some kernels do not)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
