"""The folder source: a user's images/ + masks/ folder, copied and paired."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import ROOT, SHARED_DATA

from seginterp.data.sources.folder import FolderParams
from seginterp.data.sources.registry import SOURCES, DatasetError

ISIC = SHARED_DATA / "isic2017-sample"
needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"shared sample data not found at {SHARED_DATA}"
)


def test_folder_without_path_says_what_to_set(tmp_path: Path) -> None:
    src = SOURCES.get("folder")
    with pytest.raises(DatasetError, match=r"folder\.download\.path is not set"):
        src.download(FolderParams(path=None), tmp_path, where="folder.download")
    with pytest.raises(DatasetError, match="no images or masks/"):
        src.download(FolderParams(path=str(tmp_path / "nope")), tmp_path / "o")


def test_folder_stage_error_is_clear(tmp_path: Path) -> None:
    params = {"datasets": ["folder"], "folder": {"download": {"source": "folder", "path": None}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    cmd = [sys.executable, str(ROOT / "stages" / "download.py"), "--dataset", "folder"]
    r = subprocess.run(
        [*cmd, "--out", str(tmp_path / "raw"), "--params", str(tmp_path / "params.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    assert "folder.download.path is not set" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "raw").exists()


@needs_shared
def test_folder_copies_and_pairs_isic_names(tmp_path: Path) -> None:
    """ISIC naming (``<id>_segmentation.png``) pairs through the folder source's suffixes."""
    src = SOURCES.get("folder")
    raw = tmp_path / "raw"
    raw.mkdir()
    src.download(src.parse({"source": "folder", "path": str(ISIC)}), raw)
    assert sorted(p.name for p in (raw / "images").iterdir()) == sorted(
        p.name for p in (ISIC / "images").iterdir()
    )
    pairs, rejects = src.scan(raw, None)
    assert rejects == []
    assert [p.id for p in pairs] == sorted(p.stem for p in (ISIC / "images").iterdir())
    assert all(p.mask_path.name == f"{p.id}_segmentation.png" for p in pairs)
    assert all(p.group == p.id for p in pairs)
    # copies are ours: writable, not hard links of the (read-only) originals
    f = raw / "images" / pairs[0].image_path.name
    assert f.stat().st_nlink == 1
    f.write_bytes(b"x")
