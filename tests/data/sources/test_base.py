"""Pairing images with masks: every file is a pair or a reject."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from seginterp.core.params import ParamsError
from seginterp.data.sources.base import pair_images_masks
from seginterp.data.sources.registry import SOURCES


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


# ------------------------------------------------------------------------------------------------
# sha256 params: checked when the download section is parsed, one clear line
# ------------------------------------------------------------------------------------------------

GOOD = "03b30e21d584e04facf49397a2576738fd626815771afbbf788f74a7153478f7"


def parse_yaml(text: str, source: str = "kvasir-seg") -> object:
    """Parse a download section written as YAML, as params.yaml would give it."""
    return SOURCES.get(source).parse(yaml.safe_load(text), f"{source}.download")


def test_sha256_checked_at_parse() -> None:
    assert parse_yaml(f"{{source: kvasir-seg, sha256: {GOOD.upper()}}}").sha256 == GOOD
    assert parse_yaml("{source: kvasir-seg, sha256: null}").sha256 is None
    digits = "1" + "2" * 63  # YAML reads it as an int; it renders back to the same 64 digits
    assert parse_yaml(f"{{source: kvasir-seg, sha256: {digits}}}").sha256 == digits
    with pytest.raises(ParamsError) as ei:
        parse_yaml("{source: kvasir-seg, sha256: abc}")
    assert str(ei.value) == "kvasir-seg.download.sha256 must be 64 hex characters, got 'abc'"
    with pytest.raises(ParamsError, match=r"got 0: YAML read .* quote it"):
        parse_yaml(f"{{source: kvasir-seg, sha256: {'0' * 64}}}")  # was: "cannot use 0 as str"
    with pytest.raises(ParamsError, match="quote it"):
        parse_yaml(f"{{source: kvasir-seg, sha256: {'0' + '7' * 63}}}")  # YAML 1.1 octal
    with pytest.raises(ParamsError, match=r"sha256 must be 64 hex characters, got 'g"):
        parse_yaml(f"{{source: kvasir-seg, sha256: {'g' * 64}}}")


def test_sha256_of_a_file_list_names_its_index() -> None:
    text = (
        "{source: ham10000, files: [{name: a.zip, url: u, sha256: null},"
        " {name: b.zip, url: u, sha256: 12ab}]}"
    )
    with pytest.raises(ParamsError) as ei:
        parse_yaml(text, "ham10000")
    assert (
        str(ei.value) == "ham10000.download.files[1].sha256 must be 64 hex characters, got '12ab'"
    )
