"""The Kvasir-SEG source: download from a local archive, wrong archives, offline errors, scan."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ROOT, SHARED_DATA

from seginterp.data.sources.kvasir_seg import KvasirSegParams
from seginterp.data.sources.registry import SOURCES, DatasetError

KVASIR = SHARED_DATA / "kvasir-seg-sample"
needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"shared sample data not found at {SHARED_DATA}"
)
ZipDir = Callable[[Path, Path, str], Path]


@needs_shared
def test_kvasir_scan_sample() -> None:
    pairs, rejects = SOURCES.get("kvasir-seg").scan(KVASIR, None)
    assert len(pairs) == 40 and rejects == []
    assert all(p.image_path.stem == p.mask_path.stem == p.id == p.group for p in pairs)


@needs_shared
def test_kvasir_download_from_local_archive(tmp_path: Path, zip_dir: ZipDir) -> None:
    zip_path = zip_dir(KVASIR / "Kvasir-SEG", tmp_path / "mirror.zip", "Kvasir-SEG/")
    src = SOURCES.get("kvasir-seg")
    cfg = src.parse(
        {"source": "kvasir-seg", "url": "http://127.0.0.1:9/x.zip", "archive": str(zip_path)}
    )
    raw, downloads = tmp_path / "raw", tmp_path / "downloads"
    raw.mkdir()
    src.download(cfg, raw, downloads_dir=downloads, progress=False)
    assert sorted(p.name for p in raw.iterdir()) == ["Kvasir-SEG"]
    assert (raw / "Kvasir-SEG" / "kavsir_bboxes.json").is_file()
    from seginterp.data.fetch import download_name

    name = download_name("kvasir-seg.zip", f"file:{zip_path.resolve()}", None)
    assert [p.name for p in downloads.iterdir()] == [name]  # keyed by the local path
    pairs, rejects = src.scan(raw, cfg)
    assert len(pairs) == 40 and rejects == []


@needs_shared
def test_kvasir_wrong_archive_is_refused(tmp_path: Path, zip_dir: ZipDir) -> None:
    zip_path = zip_dir(KVASIR / "Kvasir-SEG" / "images", tmp_path / "other.zip", "pics/")
    src = SOURCES.get("kvasir-seg")
    cfg = KvasirSegParams(archive=str(zip_path))
    with pytest.raises(DatasetError, match=r"does not hold Kvasir-SEG/images.*\['pics'\]"):
        src.download(cfg, tmp_path / "raw", downloads_dir=tmp_path / "dl", progress=False)


def test_kvasir_offline_names_the_archive_param(tmp_path: Path) -> None:
    from seginterp.data.fetch import NetworkError

    cfg = KvasirSegParams(url="http://127.0.0.1:9/kvasir-seg.zip", sha256=None)
    with pytest.raises(NetworkError, match=r"kvasir-seg\.download\.archive"):
        SOURCES.get("kvasir-seg").download(
            cfg,
            tmp_path / "raw",
            downloads_dir=tmp_path / "dl",
            where="kvasir-seg.download",
            progress=False,
        )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "Error: kvasir-seg.download.sha256 must be 64 hex characters, got 'abc'"),
        ("0" * 64, "Error: kvasir-seg.download.sha256 must be 64 hex characters, got 0: YAML"),
    ],
    ids=["abc", "zeros"],
)
def test_bad_sha256_is_one_line_before_any_work(tmp_path: Path, value: str, expected: str) -> None:
    """Was a ValueError traceback ('abc') or "cannot use 0 as str | None" (all zeros)."""
    params = tmp_path / "params.yaml"
    params.write_text(f"kvasir-seg:\n  download:\n    source: kvasir-seg\n    sha256: {value}\n")
    stage = [sys.executable, str(ROOT / "stages" / "download.py"), "--dataset", "kvasir-seg"]
    r = subprocess.run(
        [*stage, "--out", str(tmp_path / "raw"), "--params", str(params), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0 and "Traceback" not in r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("Error:")]
    assert line.startswith(expected)
    assert not (tmp_path / "raw").exists() and not (tmp_path / "downloads").exists()


def test_refused_local_archive_leaves_the_users_file(tmp_path: Path) -> None:
    """A local archive with a zip-slip member: the copy in downloads/ is set aside, the user's
    file is untouched, and the next run refuses it again (nothing stale is reused)."""
    import zipfile

    from seginterp.data.fetch import DownloadError

    mine = tmp_path / "mine.zip"
    with zipfile.ZipFile(mine, "w") as zf:
        zf.writestr("Kvasir-SEG/images/a.jpg", b"a")
        zf.writestr(zipfile.ZipInfo("../evil.txt"), b"x")
    data = mine.read_bytes()
    src = SOURCES.get("kvasir-seg")
    cfg = src.parse({"source": "kvasir-seg", "archive": str(mine)})
    opts = {"downloads_dir": tmp_path / "dl", "where": "kvasir-seg.download", "progress": False}
    for _ in range(2):
        with pytest.raises(DownloadError, match=r"'\.\.' component.*kvasir-seg\.download"):
            src.download(cfg, tmp_path / "raw", **opts)
        assert mine.read_bytes() == data
        assert [p.suffix for p in (tmp_path / "dl").iterdir()] == [".refused"]
    assert not (tmp_path / "evil.txt").exists()
