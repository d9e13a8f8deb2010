"""Registry of data sources: ``SOURCES.get(name)`` -> :class:`~seginterp.data.sources.base.Source`.

==============  ===============================================================================
name            what ``download`` puts into ``data/<D>/raw``
==============  ===============================================================================
synthetic       generated lesion-like PNGs: ``images/``, ``masks/`` (offline, seeded)
kvasir-seg      the official zip unpacked: ``Kvasir-SEG/images``, ``Kvasir-SEG/masks``
ham10000        image zips, lesion-mask zip and metadata CSV, each unpacked/copied
folder          a copy of a user's ``images/`` + ``masks/`` folder (params ``path``)
==============  ===============================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seginterp.core.params import ParamsError
from seginterp.core.registry import Registry
from seginterp.data.sources import folder, ham10000, kvasir_seg, synthetic
from seginterp.data.sources.base import DatasetError, Pair, Reject, Source

SOURCES: Registry[Source] = Registry("dataset source")

for _name, _mod, _cls, _desc in (
    ("synthetic", synthetic, synthetic.SyntheticParams, "generated lesion-like blobs"),
    ("kvasir-seg", kvasir_seg, kvasir_seg.KvasirSegParams, "Kvasir-SEG polyps (official zip)"),
    ("ham10000", ham10000, ham10000.Ham10000Params, "HAM10000 dermoscopy + lesion masks"),
    ("folder", folder, folder.FolderParams, "a user's images/ + masks/ folder"),
):
    _watched = getattr(_mod, "watched", None)
    SOURCES.add(_name, Source(_name, _cls, _mod.download, _mod.scan, _desc, _watched))


def source_for(download_section: Mapping[str, Any], where: str = "download") -> Source:
    """The source named by a ``<D>.download`` section's ``source`` key."""
    name = download_section.get("source")
    if not name:
        raise ParamsError(f"{where}.source is missing; valid sources: {', '.join(SOURCES)}")
    return SOURCES.get(str(name))


def parse_download(
    download_section: Mapping[str, Any], where: str = "download"
) -> tuple[Source, Any]:
    """(source, its params dataclass) from a ``<D>.download`` section; unknown keys fail."""
    src = source_for(download_section, where)
    return src, src.parse(download_section, where)


__all__ = [
    "SOURCES",
    "DatasetError",
    "Pair",
    "Reject",
    "Source",
    "parse_download",
    "source_for",
]
