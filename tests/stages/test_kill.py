"""Kill anywhere: SIGKILL the train, attribute and evaluate stages mid-run under a real
`dvc repro`, repro again, and get the bytes of an uninterrupted run made in other processes."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from support import out_hashes, run_cmd, tiny_params

Ready = Callable[[Path, str], bool]
DS = "synthetic"
REPLICATE = Path("data") / DS / "replicates" / "0"  # tiny_params: one replicate, seed 0


def _checkpoint_written(repo: Path, _: str) -> bool:
    return (repo / REPLICATE / "resume" / "last.pt").exists()


def _some_maps_written(repo: Path, _: str) -> bool:
    return any((repo / REPLICATE).glob(".attributions.*.tmp/*.npz"))


def _measuring(_: Path, log: str) -> bool:
    return f"evaluate {DS}:" in log  # the progress bar of the metrics' image loop


def _kill_stage_midway(repo: Path, env: dict[str, str], stage: str, ready: Ready, rng) -> str:
    """`dvc repro`; once ``ready`` and after a random delay, SIGKILL the stage's processes."""
    log_path = repo.parent / f"{stage}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dvc", "repro"], cwd=repo, env=env, stdout=log, stderr=log
        )
        try:
            while not ready(repo, log_path.read_text(errors="replace")):
                if proc.poll() is not None:
                    pytest.fail(f"{stage} ended before it could be killed:\n{log_path.read_text()}")
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.5))
            victims = [
                p
                for p in psutil.Process(proc.pid).children(recursive=True)
                if f"stages/{stage}.py" in " ".join(p.cmdline())
            ]
            assert victims, f"no process of stage {stage} found"
            for p in victims:
                p.send_signal(signal.SIGKILL)
            proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log_path.read_text(errors="replace")
    assert proc.returncode != 0, f"dvc repro did not notice the kill of {stage}:\n{text}"
    return text


@pytest.mark.slow
def test_killed_stages_resume_to_the_bytes_of_an_uninterrupted_run(dvc_repo, tiny_run) -> None:
    """The uninterrupted run is the shared ``tiny_run``: other processes, another repo."""
    cut, env = dvc_repo(tiny_params(), name="cut")
    rng = random.Random(0)
    for stage, ready in (
        ("train", _checkpoint_written),
        ("attribute", _some_maps_written),
        ("evaluate", _measuring),
    ):
        _kill_stage_midway(cut, env, stage, ready, rng)
        untracked = run_cmd(["git", "status", "--porcelain"], cut, env)
        assert ".tmp" not in untracked and "logs/" not in untracked, untracked
    run_cmd([sys.executable, "-m", "dvc", "repro"], cut, env)

    want, got = tiny_run.out_hashes, out_hashes(cut)
    assert len(want) >= 15
    assert got == want, {k: (want[k], got.get(k)) for k in want if want[k] != got.get(k)}
    # nothing a killed run left behind shows up
    assert run_cmd(["git", "status", "--porcelain"], cut, env) == tiny_run.git_status
    assert not list((cut / "data" / DS).glob("**/.*.tmp"))
