"""The Kvasir-SEG source: download from a local archive, wrong archives, offline errors, scan."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support import SHARED_DATA

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
    assert (downloads / "kvasir-seg.zip").is_file()
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
