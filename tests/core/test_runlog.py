import json
from pathlib import Path

from seginterp.core.runlog import runlog_path, write_runlog


def test_run_log_outside_the_outputs_one_per_replicate(tmp_path: Path) -> None:
    path = write_runlog("synthetic", "train", {"seconds": 1.5, "resumed_from_epoch": 3}, tmp_path)
    assert path == runlog_path("synthetic", "train", tmp_path) == tmp_path / "synthetic/train.json"
    got = json.loads(path.read_text())
    assert (got["stage"], got["dataset"], got["seconds"]) == ("train", "synthetic", 1.5)
    assert got["resumed_from_epoch"] == 3 and got["host"] and "seed" not in got
    logs = [write_runlog("synthetic", "evaluate", {"seconds": s}, tmp_path, seed=s) for s in (0, 1)]
    assert [p.name for p in logs] == ["evaluate-0.json", "evaluate-1.json"]  # none overwritten
    assert [json.loads(p.read_text())["seed"] for p in logs] == [0, 1]
