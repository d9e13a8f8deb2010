"""The source registry: names, unknown names and keys, the project's params."""

from __future__ import annotations

import pytest
import yaml
from support import ROOT

from seginterp.core.params import ParamsError
from seginterp.core.registry import UnknownNameError
from seginterp.data.sources.ham10000 import HamFile
from seginterp.data.sources.registry import SOURCES, parse_download, source_for


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
