"""The HAM10000 source: params, download from local files, lesion groups from the metadata."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support import SHARED_DATA

from seginterp.core.params import ParamsError
from seginterp.data.sources.ham10000 import Ham10000Params, HamFile, read_groups
from seginterp.data.sources.registry import SOURCES, DatasetError

HAM = SHARED_DATA / "ham10000-sample"
needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"shared sample data not found at {SHARED_DATA}"
)
ZipDir = Callable[[Path, Path, str], Path]


def test_ham_params_validation() -> None:
    with pytest.raises(ParamsError, match="url or its archive"):
        HamFile(name="a.zip")
    with pytest.raises(ParamsError, match="plain file name"):
        HamFile(name="../a.zip", url="u")
    with pytest.raises(ParamsError, match="empty"):
        Ham10000Params(files=())


@needs_shared
def test_ham_scan_sample_groups() -> None:
    pairs, rejects = SOURCES.get("ham10000").scan(HAM, None)
    assert len(pairs) == 30 and rejects == []
    by_id = {p.id: p for p in pairs}
    assert by_id["ISIC_0027250"].group == by_id["ISIC_0025309"].group == "HAM_0003937"
    assert by_id["ISIC_0026352"].group == by_id["ISIC_0024688"].group == "HAM_0001444"
    assert by_id["ISIC_0024338"].mask_path.name == "ISIC_0024338_segmentation.png"
    assert len({p.group for p in pairs}) == 28


@needs_shared
def test_ham_metadata_read_by_column_name(tmp_path: Path) -> None:
    import pandas as pd

    df = pd.read_csv(HAM / "HAM10000_metadata.csv")
    df["dataset"] = "vidir_modern"  # the 8-column copies in circulation
    df = df[["image_id", "dataset", *[c for c in df.columns if c not in ("image_id", "dataset")]]]
    df.to_csv(tmp_path / "m.csv", index=False)
    groups = read_groups(tmp_path / "m.csv")
    assert len(groups) == 10015
    assert groups["ISIC_0024688"] == "HAM_0001444"
    (tmp_path / "bad.csv").write_text("image,lesion\nISIC_1,HAM_1\n")
    with pytest.raises(DatasetError, match="lacks column"):
        read_groups(tmp_path / "bad.csv")


@needs_shared
def test_ham_download_from_local_files(tmp_path: Path, zip_dir: ZipDir) -> None:
    """Dataverse image zips have no top folder, the mask zip has one: raw/ is the same."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    imgs = zip_dir(HAM / "HAM10000_images_part_1", mirror / "p1.zip", "")
    segs_dir = HAM / "HAM10000_segmentations_lesion_tschandl"
    segs = zip_dir(segs_dir, mirror / "s.zip", "HAM10000_segmentations_lesion_tschandl/")
    files = [
        {"name": "HAM10000_images_part_1.zip", "url": None, "archive": str(imgs)},
        {"name": "HAM10000_segmentations_lesion_tschandl.zip", "archive": str(segs)},
        {"name": "HAM10000_metadata.csv", "archive": str(HAM / "HAM10000_metadata.csv")},
    ]
    src = SOURCES.get("ham10000")
    cfg = src.parse({"source": "ham10000", "files": files})
    raw = tmp_path / "raw"
    raw.mkdir()
    src.download(cfg, raw, downloads_dir=tmp_path / "dl", progress=False)
    assert sorted(p.name for p in raw.iterdir()) == [
        "HAM10000_images_part_1",
        "HAM10000_metadata.csv",
        "HAM10000_segmentations_lesion_tschandl",
    ]
    assert len(list((raw / "HAM10000_images_part_1").iterdir())) == 30
    pairs, rejects = src.scan(raw, cfg)
    assert len(pairs) == 30 and rejects == []


def test_ham_missing_metadata_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "HAM10000_images_part_1").mkdir()
    (tmp_path / "HAM10000_segmentations_lesion_tschandl").mkdir()
    with pytest.raises(DatasetError, match=r"HAM10000_metadata\.csv not found"):
        SOURCES.get("ham10000").scan(tmp_path, None)
    shutil.rmtree(tmp_path / "HAM10000_images_part_1")
    with pytest.raises(DatasetError, match="no HAM10000_images"):
        SOURCES.get("ham10000").scan(tmp_path, None)
