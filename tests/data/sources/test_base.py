"""Pairing images with masks: every file is a pair or a reject."""

from __future__ import annotations

from pathlib import Path

from seginterp.data.sources.base import pair_images_masks


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
