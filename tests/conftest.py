"""Shared fixtures: an isolated git + DVC repository holding the project's pipeline."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from support import make_repo

RepoFactory = Callable[..., tuple[Path, dict[str, str]]]


@pytest.fixture(scope="session", autouse=True)
def calibration_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The check stage's calibrations (:func:`seginterp.estimate.cache_dir`) in one folder of this
    session, shared by the stages the tests run, never in the user's cache."""
    import os

    before = os.environ.get("SEGINTERP_CACHE_DIR")
    os.environ["SEGINTERP_CACHE_DIR"] = str(tmp_path_factory.mktemp("seginterp-cache"))
    yield
    if before is None:
        del os.environ["SEGINTERP_CACHE_DIR"]
    else:
        os.environ["SEGINTERP_CACHE_DIR"] = before


@pytest.fixture
def dvc_repo(tmp_path: Path) -> RepoFactory:
    """Factory: :func:`make_repo` under this test's ``tmp_path``."""

    def make(
        params: Mapping[str, Any], stages: Iterable[str] | None = None, name: str = "repo"
    ) -> tuple[Path, dict[str, str]]:
        return make_repo(tmp_path, params, stages, name)

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
