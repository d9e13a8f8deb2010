"""Shared fixtures: an isolated git + DVC repository holding the project's pipeline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def run_cmd(args: list[str], cwd: Path, env: Mapping[str, str], timeout: float = 900) -> str:
    """Run a command; fail the test with its output when it exits non-zero."""
    r = subprocess.run(
        args, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    out = r.stdout + r.stderr
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}):\n{out}")
    return out


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """Environment that keeps DVC and git away from the user's config, cache and analytics."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
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


RepoFactory = Callable[[Mapping[str, Any], Iterable[str] | None], tuple[Path, dict[str, str]]]


@pytest.fixture
def dvc_repo(tmp_path: Path) -> RepoFactory:
    """Factory: a git + DVC repo with the project's stages/, src/, dvc.yaml (optionally only
    some stages) and the given params.yaml, committed. Returns (path, env)."""

    def make(params: Mapping[str, Any], stages: Iterable[str] | None = None):
        repo = tmp_path / "repo"
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
        (repo / ".gitignore").write_text("/data/*/downloads/\n/data/*/resume/\n")
        env = isolated_env(tmp_path)
        run_cmd(["git", "init", "-q"], repo, env)
        run_cmd([sys.executable, "-m", "dvc", "init", "-q"], repo, env)
        run_cmd(["git", "add", "-A"], repo, env)
        run_cmd(["git", "commit", "-q", "-m", "init"], repo, env)
        return repo, env

    return make
