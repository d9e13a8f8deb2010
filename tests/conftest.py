"""Shared fixtures: an isolated git + DVC repository holding the project's pipeline."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from support import make_repo

RepoFactory = Callable[..., tuple[Path, dict[str, str]]]


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
