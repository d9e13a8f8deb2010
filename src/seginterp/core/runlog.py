"""Run logs: how one run of a stage went (wall time, resume point), kept apart from its results.

A stage's outputs must be the same bytes for the same params, so nothing that depends on the
run itself (seconds, where a killed run resumed) goes into them. Those facts go to
``logs/<dataset>/<stage>.json`` instead: a working file beside the outputs that DVC does not
track and git ignores. It is rewritten by each run of the stage; it is never an input.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seginterp.core.io import write_json

LOG_ROOT = Path("logs")


def runlog_path(dataset: str, stage: str, root: Path = LOG_ROOT) -> Path:
    """Where the run log of ``stage`` for ``dataset`` lives."""
    return Path(root) / dataset / f"{stage}.json"


def write_runlog(dataset: str, stage: str, facts: Mapping[str, Any], root: Path = LOG_ROOT) -> Path:
    """Write the run log of one stage run: ``facts`` plus the host it ran on. Returns its path."""
    path = runlog_path(dataset, stage, root)
    write_json(path, {"stage": stage, "dataset": dataset, "host": platform.node(), **facts})
    return path


def read_runlog(dataset: str, stage: str, root: Path = LOG_ROOT) -> dict[str, Any] | None:
    """The last run log of ``stage`` for ``dataset``, or None when it never ran here."""
    path = runlog_path(dataset, stage, root)
    return json.loads(path.read_text()) if path.exists() else None
