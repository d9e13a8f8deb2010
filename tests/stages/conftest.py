"""The tiny pipeline run that several end-to-end tests share (one `dvc repro`, made once)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import make_repo, out_hashes, run_cmd, tiny_params


@dataclass(frozen=True)
class TinyRun:
    """A repo after `dvc repro` of :func:`support.tiny_params`: its path, env, the repro's
    output, and, at that moment, the md5 of every output in dvc.lock and `git status`
    (tests may go on changing the repo)."""

    repo: Path
    env: dict[str, str]
    output: str
    out_hashes: dict[str, str]
    git_status: str


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> TinyRun:
    repo, env = make_repo(tmp_path_factory.mktemp("tiny"), tiny_params(), name="ref")
    output = run_cmd([sys.executable, "-m", "dvc", "repro"], repo, env)
    status = run_cmd(["git", "status", "--porcelain"], repo, env)
    return TinyRun(repo, env, output, out_hashes(repo), status)
