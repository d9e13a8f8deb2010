from pathlib import Path

import pytest

from seginterp.core.io import atomic_dir


def test_atomic_dir_replaces_whole_and_clears_what_a_killed_run_left(tmp_path: Path) -> None:
    out = tmp_path / "attributions"
    out.mkdir()
    (out / "old.npz").write_bytes(b"old")
    left = tmp_path / ".attributions.k1ll3d__.tmp"  # a SIGKILLed run's temporary sibling
    left.mkdir()
    (left / "part.npz").write_bytes(b"partial")
    other = tmp_path / ".attributions.parquet.x.tmp"  # another output's: not touched
    other.write_bytes(b"x")
    with atomic_dir(out) as tmp:
        assert not left.exists()
        (tmp / "new.npz").write_bytes(b"new")
    assert [p.name for p in out.iterdir()] == ["new.npz"]
    assert other.exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        ".attributions.parquet.x.tmp",
        "attributions",
    ]


def test_atomic_dir_keeps_the_old_output_when_the_run_fails(tmp_path: Path) -> None:
    out = tmp_path / "evaluation"
    out.mkdir()
    (out / "a.parquet").write_bytes(b"a")
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "b.parquet").write_bytes(b"b")
        raise RuntimeError("stage failed")
    assert [p.name for p in out.iterdir()] == ["a.parquet"]
    assert [p.name for p in tmp_path.iterdir()] == ["evaluation"]
