import json
from pathlib import Path

from seginterp.core.runlog import read_runlog, runlog_path, write_runlog


def test_run_log_round_trip_outside_the_outputs(tmp_path: Path) -> None:
    assert read_runlog("synthetic", "train", tmp_path) is None
    path = write_runlog("synthetic", "train", {"seconds": 1.5, "resumed_from_epoch": 3}, tmp_path)
    assert path == runlog_path("synthetic", "train", tmp_path) == tmp_path / "synthetic/train.json"
    got = read_runlog("synthetic", "train", tmp_path)
    assert got is not None and got == json.loads(path.read_text())
    assert (got["stage"], got["dataset"], got["seconds"]) == ("train", "synthetic", 1.5)
    assert got["resumed_from_epoch"] == 3 and got["host"]
