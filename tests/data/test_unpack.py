"""unpack: zip slip, links leaving the target, device files, corrupt and non-archives."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from seginterp.data.fetch import DownloadError
from seginterp.data.unpack import UnsafeArchiveError, unpack


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)  # ZipInfo keeps the name as given
    return path


@pytest.mark.parametrize(
    "evil",
    ["../evil.txt", "/tmp/seginterp-evil.txt", "ok/../../evil.txt", "C:/evil.txt", "..\\evil.txt"],
)
def test_zip_slip_refused(tmp_path: Path, evil: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    archive = make_zip(tmp_path / "a.zip", {"Kvasir-SEG/images/a.jpg": b"jpg", evil: b"pwned"})
    target = work / "raw"

    with pytest.raises(UnsafeArchiveError) as ei:
        unpack(archive, target)

    assert repr(evil) in str(ei.value) and ei.value.member == evil
    assert leftovers(work) == []  # target not created, no temp dir left
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/seginterp-evil.txt").exists()


def make_tar(path: Path, links: list[tuple[str, str, bytes]]) -> Path:
    """A tar.gz with one regular file and (name, linkname, type) link members."""
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("data/a.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"abc"))
        for name, linkname, kind in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, linkname
            tf.addfile(info)
    return path


@pytest.mark.parametrize(
    "links",
    [
        [("data/out", "../../outside", tarfile.SYMTYPE)],
        [("data/abs", "/etc/passwd", tarfile.SYMTYPE)],
        [("data/hard", "../outside", tarfile.LNKTYPE)],
        # '..' beneath another symlink: data/here -> '.', data/up -> 'here/../..' leaves the root
        [("data/here", ".", tarfile.SYMTYPE), ("data/up", "here/../..", tarfile.SYMTYPE)],
    ],
    ids=["symlink-up", "symlink-absolute", "hardlink-up", "symlink-chain"],
)
def test_tar_links_leaving_target_refused(tmp_path: Path, links: list) -> None:
    archive = make_tar(tmp_path / "a.tar.gz", links)
    target = tmp_path / "work" / "raw"
    with pytest.raises(UnsafeArchiveError) as ei:
        unpack(archive, target)
    assert ei.value.member == links[-1][0] and links[-1][0] in str(ei.value)
    assert not target.parent.exists()


def test_tar_inside_links_and_replace_existing(tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "a.tgz",
        [("data/link", "a.txt", tarfile.SYMTYPE), ("data/hard", "data/a.txt", tarfile.LNKTYPE)],
    )
    target = tmp_path / "raw"
    target.mkdir()
    (target / "old.txt").write_text("stale")

    assert unpack(archive, target) == target

    assert not (target / "old.txt").exists()
    assert (target / "data" / "link").is_symlink()
    assert (target / "data" / "link").read_bytes() == (target / "data" / "hard").read_bytes()
    assert leftovers(tmp_path) == ["a.tgz", "raw"]


def test_unpack_not_an_archive(tmp_path: Path) -> None:
    bogus = tmp_path / "kvasir-seg.zip"
    bogus.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DownloadError, match="not a zip or tar archive") as ei:
        unpack(bogus, tmp_path / "raw")
    assert str(bogus) in str(ei.value) and not (tmp_path / "raw").exists()


def test_unpack_missing_archive(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="does not exist"):
        unpack(tmp_path / "nope.zip", tmp_path / "raw")


def test_unpack_corrupt_zip(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"a.txt": b"x" * 1000})
    data = bytearray(archive.read_bytes())
    data[40:50] = b"\x00" * 10  # damage the member data, keep the central directory
    archive.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match="corrupt"):
        unpack(archive, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()
