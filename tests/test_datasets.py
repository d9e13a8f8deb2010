"""Dataset sources: registry, params, download layouts (from local archives) and scans."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from seginterp.datasets import SOURCES, DatasetError, parse_download, source_for
from seginterp.datasets.base import pair_images_masks
from seginterp.datasets.folder import FolderParams
from seginterp.datasets.ham10000 import Ham10000Params, HamFile, read_groups
from seginterp.datasets.kvasir_seg import KvasirSegParams
from seginterp.params import ParamsError
from seginterp.registry import UnknownNameError

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
KVASIR = SHARED_DATA / "kvasir-seg-sample"
HAM = SHARED_DATA / "ham10000-sample"
ISIC = SHARED_DATA / "isic2017-sample"
needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"shared sample data not found at {SHARED_DATA}"
)


def _zip_dir(src: Path, zip_path: Path, prefix: str) -> Path:
    """Zip the files under ``src`` with names ``prefix + relative path``."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                zf.write(p, prefix + p.relative_to(src).as_posix())
    return zip_path


# --------------------------------------------------------------------------------------------
# Registry and params
# --------------------------------------------------------------------------------------------


def test_registry_names() -> None:
    assert SOURCES.names() == ["synthetic", "kvasir-seg", "ham10000", "folder"]


def test_unknown_source_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError) as e:
        SOURCES.get("kvasir")
    for name in ("synthetic", "kvasir-seg", "ham10000", "folder"):
        assert name in str(e.value)
    with pytest.raises(UnknownNameError, match="kvasir-seg"):
        source_for({"source": "isic"})
    with pytest.raises(ParamsError, match=r"mine\.download\.source is missing"):
        source_for({"url": "x"}, "mine.download")


def test_unknown_params_key_rejected() -> None:
    with pytest.raises(ParamsError, match=r"kvasir-seg\.download: unknown key\(s\) sha"):
        parse_download({"source": "kvasir-seg", "sha": "0"}, "kvasir-seg.download")
    with pytest.raises(ParamsError, match=r"unknown key\(s\) md5"):
        parse_download(
            {"source": "ham10000", "files": [{"name": "a.zip", "url": "u", "md5": "x"}]},
            "ham10000.download",
        )
    with pytest.raises(ParamsError, match="valid keys: source, path"):
        parse_download({"source": "folder", "paths": "x"}, "folder.download")


def test_project_params_parse() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    sections = {k: v for k, v in params.items() if isinstance(v, dict) and "download" in v}
    assert {"synthetic", "kvasir-seg", "ham10000"} <= set(sections)
    for dataset, section in sections.items():  # every dataset section parses (folder too)
        src, _ = parse_download(section["download"], f"{dataset}.download")
        assert src.name == section["download"]["source"]
    _, ham = parse_download(params["ham10000"]["download"])
    assert isinstance(ham.files[0], HamFile) and len(ham.files) == 4


def test_ham_params_validation() -> None:
    with pytest.raises(ParamsError, match="url or its archive"):
        HamFile(name="a.zip")
    with pytest.raises(ParamsError, match="plain file name"):
        HamFile(name="../a.zip", url="u")
    with pytest.raises(ParamsError, match="empty"):
        Ham10000Params(files=())


# --------------------------------------------------------------------------------------------
# folder
# --------------------------------------------------------------------------------------------


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


def test_pairing_accounts_for_every_file(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for name in ("a.png", "b.png", "c.jpg", "c.png", "notes.txt", ".DS_Store"):
        (tmp_path / "images" / name).write_bytes(b"")
    for name in ("a.png", "b_mask.png", "c.png", "d.png"):
        (tmp_path / "masks" / name).write_bytes(b"")
    pairs, rejects = pair_images_masks(
        tmp_path, [tmp_path / "images"], tmp_path / "masks", mask_suffixes=("", "_mask")
    )
    assert [(p.id, p.mask_path.name) for p in pairs] == [
        ("a", "a.png"),
        ("b", "b_mask.png"),
        ("c", "c.png"),
    ]
    reasons = dict(rejects)
    assert set(reasons) == {"images/c.png", "images/notes.txt", "masks/d.png"}
    assert "duplicate image id" in reasons["images/c.png"]
    assert "unsupported file type" in reasons["images/notes.txt"]
    assert "no image" in reasons["masks/d.png"]


# --------------------------------------------------------------------------------------------
# kvasir-seg
# --------------------------------------------------------------------------------------------


@needs_shared
def test_kvasir_scan_sample() -> None:
    pairs, rejects = SOURCES.get("kvasir-seg").scan(KVASIR, None)
    assert len(pairs) == 40 and rejects == []
    assert all(p.image_path.stem == p.mask_path.stem == p.id == p.group for p in pairs)


@needs_shared
def test_kvasir_download_from_local_archive(tmp_path: Path) -> None:
    zip_path = _zip_dir(KVASIR / "Kvasir-SEG", tmp_path / "mirror.zip", "Kvasir-SEG/")
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
def test_kvasir_wrong_archive_is_refused(tmp_path: Path) -> None:
    zip_path = _zip_dir(KVASIR / "Kvasir-SEG" / "images", tmp_path / "other.zip", "pics/")
    src = SOURCES.get("kvasir-seg")
    cfg = KvasirSegParams(archive=str(zip_path))
    with pytest.raises(DatasetError, match=r"does not hold Kvasir-SEG/images.*\['pics'\]"):
        src.download(cfg, tmp_path / "raw", downloads_dir=tmp_path / "dl", progress=False)


def test_kvasir_offline_names_the_archive_param(tmp_path: Path) -> None:
    from seginterp.download import NetworkError

    cfg = KvasirSegParams(url="http://127.0.0.1:9/kvasir-seg.zip", sha256=None)
    with pytest.raises(NetworkError, match=r"kvasir-seg\.download\.archive"):
        SOURCES.get("kvasir-seg").download(
            cfg,
            tmp_path / "raw",
            downloads_dir=tmp_path / "dl",
            where="kvasir-seg.download",
            progress=False,
        )


# --------------------------------------------------------------------------------------------
# ham10000
# --------------------------------------------------------------------------------------------


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
def test_ham_download_from_local_files(tmp_path: Path) -> None:
    """Dataverse image zips have no top folder, the mask zip has one: raw/ is the same."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    imgs = _zip_dir(HAM / "HAM10000_images_part_1", mirror / "p1.zip", "")
    segs_dir = HAM / "HAM10000_segmentations_lesion_tschandl"
    segs = _zip_dir(segs_dir, mirror / "s.zip", "HAM10000_segmentations_lesion_tschandl/")
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
