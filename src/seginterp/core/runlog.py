"""Run logs: how one run of a stage went (wall time, resume point), kept apart from its results.

A stage's outputs must be the same bytes for the same params, so nothing that depends on the
run itself (seconds, where a killed run resumed) goes into them. Those facts go to
``logs/<dataset>/<stage>.json`` instead (``<stage>-<seed>.json`` for a replicate's stage): a
working file beside the outputs that DVC does not track and git ignores. It is rewritten by each
run of the stage; it is never an input.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seginterp.core.io import write_json

LOG_ROOT = Path("logs")


def runlog_path(dataset: str, stage: str, root: Path = LOG_ROOT, seed: int | None = None) -> Path:
    """Where the run log of ``stage`` for ``dataset`` (and replicate ``seed``) lives."""
    return Path(root) / dataset / (f"{stage}.json" if seed is None else f"{stage}-{seed}.json")


def write_runlog(
    dataset: str,
    stage: str,
    facts: Mapping[str, Any],
    root: Path = LOG_ROOT,
    seed: int | None = None,
) -> Path:
    """Write the run log of one stage run: ``facts`` plus the host it ran on. Returns its path."""
    path = runlog_path(dataset, stage, root, seed)
    head = {"stage": stage, "dataset": dataset} | ({} if seed is None else {"seed": seed})
    write_json(path, {**head, "host": platform.node(), **facts})
    return path
