"""Typed views of params.yaml: the one place that knows how the file is laid out.

params.yaml has a ``datasets`` list, a ``defaults`` section and one section per dataset that lists
only what differs from the defaults; a dataset's params are its section laid on ``defaults``
(:func:`merged`), which :func:`load_params` does for every dataset. Each has one sub-section per
stage (``download``, ``preprocess``, ``model``, ``train``, ``predict``, ``attribute``,
``evaluate``). Modules declare a dataclass for their sub-section and build it with
:func:`from_mapping`, which rejects unknown keys (a typo must not be silently ignored). The check
stage writes each dataset's merged params to ``data/<D>/params.yaml`` (:func:`write_effective`),
the file every later stage's params are tracked in, so that DVC reruns a stage when its effective
value changes, whether through a default or an override, and no other (docs/pipeline.md).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

C = TypeVar("C")


DEFAULTS = "defaults"
NOT_DATASETS = frozenset({DEFAULTS, "scale"})  # top-level sections that are not datasets


class ParamsError(ValueError):
    """params.yaml is missing a section or has a key or value that cannot be used."""


def merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` laid on ``base``: mappings merge key by key, at any depth; any other value (a
    scalar, a list, null) replaces the default."""
    out = dict(base)
    for key, value in over.items():
        below = base.get(key)
        both = isinstance(value, Mapping) and isinstance(below, Mapping)
        out[key] = merged(below, value) if both else value
    return out


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Read params.yaml as a plain dict, every dataset section merged onto ``defaults``."""
    p = Path(path)
    if not p.is_file():
        raise ParamsError(f"params file {str(p)!r} not found (run from the project root)")
    with p.open() as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ParamsError(f"{p}: expected a mapping at the top level")
    defaults = data.get(DEFAULTS) or {}
    if not isinstance(defaults, Mapping):
        raise ParamsError(f"{p}: `{DEFAULTS}` must be a mapping of stage sections")
    return {
        k: merged(defaults, v) if isinstance(v, Mapping) and k not in NOT_DATASETS else v
        for k, v in data.items()
    }


def write_effective(params: Mapping[str, Any], dataset: str, path: Path) -> None:
    """Write ``dataset``'s merged params (as :func:`load_params` returns them) to ``path``: the
    file DVC tracks each later stage's params in (``data/<D>/params.yaml: [train]``)."""
    head = (
        f"# {dataset}'s effective params: params.yaml `{DEFAULTS}` with the {dataset} section "
        "laid on it.\n# Written by the check stage; edit params.yaml, not this file.\n"
    )
    path.write_text(head + yaml.safe_dump(dict(params[dataset]), sort_keys=False))


def replicate_seeds(params: Mapping[str, Any]) -> list[int]:
    """``replicates``: the training seeds of the replicate models every dataset trains (a
    non-empty list of distinct integers >= 0)."""
    seeds = params.get("replicates")
    ok = (
        isinstance(seeds, list)
        and seeds
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    )
    if not ok or len(set(seeds)) != len(seeds):
        raise ParamsError(
            f"params.yaml: replicates must be a list of distinct training seeds >= 0, e.g. "
            f"[0, 1, 2], got {seeds!r}"
        )
    return list(seeds)


def stage_section(params: Mapping[str, Any], dataset: str, stage: str) -> dict[str, Any]:
    """Return ``params[dataset][stage]`` with an actionable error when it is missing."""
    if dataset not in params:
        known = [k for k, v in params.items() if isinstance(v, Mapping) and k not in NOT_DATASETS]
        raise ParamsError(
            f"params.yaml has no section for dataset {dataset!r}; sections: {', '.join(known)}"
        )
    section = params[dataset]
    if not isinstance(section, Mapping) or stage not in section:
        raise ParamsError(f"params.yaml: {dataset}.{stage} is missing")
    value = section[stage]
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ParamsError(f"params.yaml: {dataset}.{stage} must be a mapping")
    return dict(value)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Convert YAML values into the annotated type where that is unambiguous."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if value is None:
        return None
    if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
        return from_mapping(tp, value, where)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except (TypeError, ValueError):
                continue
        raise ParamsError(f"{where}: cannot use {value!r} as {tp}")
    if origin in (tuple, list) and isinstance(value, list | tuple):
        inner = args[0] if args else Any
        out = [_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, bool):
        raise ParamsError(f"{where}: expected an integer, got {value!r}")
    if tp in (int, str, bool) and not isinstance(value, tp):
        raise ParamsError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def from_mapping(cls: type[C], mapping: Mapping[str, Any], where: str = "") -> C:
    """Build dataclass ``cls`` from ``mapping``; unknown keys fail listing the valid ones."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ParamsError(
            f"{where or cls.__name__}: unknown key(s) {', '.join(unknown)}; "
            f"valid keys: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in mapping.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}" if where else name)
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required key is missing
        raise ParamsError(f"{where or cls.__name__}: {e}") from None


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as plain, YAML/JSON-friendly data (tuples become lists)."""

    def conv(v: Any) -> Any:
        if isinstance(v, tuple | list):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(dataclasses.asdict(obj))


S = TypeVar("S", bound="StageConfig")


class StageConfig:
    """Mixin for a stage's frozen config dataclass: ``Cls.from_params(params, dataset)``.

    ``section`` names the sub-section of ``params[dataset]`` the config reads (``train``,
    ``attribute``, ...); every param of that section is read here and nowhere else.
    """

    section: ClassVar[str]

    @classmethod
    def from_params(cls: type[S], params: Mapping[str, Any], dataset: str) -> S:
        """Build from ``params[dataset][section]``; unknown keys fail listing the valid ones."""
        return from_mapping(
            cls, stage_section(params, dataset, cls.section), f"{dataset}.{cls.section}"
        )

    def check_choice(self, name: str, valid: Sequence[str]) -> None:
        """Fail, listing ``valid``, when the field ``name`` holds another value."""
        value = getattr(self, name)
        if value not in valid:
            raise ValueError(f"{self.section}.{name} {value!r}; valid: {', '.join(valid)}")
