"""The README's results block is generated from the committed run and checked against dvc.lock."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from support import ROOT

from seginterp.report import readme


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _project(tmp_path: Path) -> Path:
    files = {
        "metrics/toy/summary.json": json.dumps(
            {"test": {"mIoU": 0.5, "mDice": 0.6}, "n": {"models": 3, "scored": 12}}
        ),
        "metrics/toy/claims.md": "| claim | verdict |\n|---|---|\n| x | held |\n",
    }
    outs = []
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
        outs.append({"path": rel, "md5": _md5(text), "size": len(text)})
    lock = {"schema": "2.0", "stages": {"evaluate@toy": {"cmd": "x", "outs": outs}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    (tmp_path / "README.md").write_text(f"# t\n\n{readme.BEGIN}\nold\n{readme.END}\n\ntail\n")
    return tmp_path


def test_update_writes_the_outputs_and_cites_their_md5(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert readme.update(root / "README.md", root, ["toy"])
    text = (root / "README.md").read_text()
    assert "mIoU 0.500, mDice 0.600" in text and "| x | held |" in text
    assert "(3 replicate models, 12 scored image-model pairs): mIoU 0.500, mDice 0.600" in text
    assert text.startswith("# t\n") and text.endswith("\n\ntail\n")
    assert readme.check(root, ["toy"]) == []
    assert not readme.update(root / "README.md", root, ["toy"])  # idempotent


def test_check_fails_when_dvc_lock_moves_on(tmp_path: Path) -> None:
    root = _project(tmp_path)
    readme.update(root / "README.md", root, ["toy"])
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    lock["stages"]["evaluate@toy"]["outs"][0]["md5"] = "0" * 32
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    problems = readme.check(root, ["toy"])
    assert problems and "metrics/toy/summary.json" in problems[0]


def test_check_fails_when_the_block_is_edited_by_hand(tmp_path: Path) -> None:
    root = _project(tmp_path)
    readme.update(root / "README.md", root, ["toy"])
    path = root / "README.md"
    path.write_text(path.read_text().replace("mIoU 0.500", "mIoU 0.947"))
    assert readme.check(root, ["toy"]) == [
        "the block differs from what the outputs render: run `make readme`"
    ]


def test_outputs_that_differ_from_the_lock_are_refused(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "metrics/toy/summary.json").write_text(json.dumps({"test": {"mIoU": 0.9}}))
    with pytest.raises(readme.ReadmeError, match=r"differs from dvc\.lock"):
        readme.render(root, ["toy"])


def test_project_readme_describes_the_committed_run() -> None:
    """README.md's results cite the md5s of the committed dvc.lock (and, where the outputs are
    in the workspace, equal what they render)."""
    assert readme.check(ROOT, ["synthetic"]) == []


def test_project_readme_shows_the_committed_architecture_comparison() -> None:
    """README's architecture table is rendered from comparisons/synthetic-architectures.json."""
    from seginterp.report.architectures import check_readme, table_path

    assert check_readme(ROOT / "README.md", table_path(ROOT, "synthetic")) == []
