"""Typed params: each stage's section read in one place; typos and bad types refused."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from seginterp.core.params import (
    ParamsError,
    StageConfig,
    from_mapping,
    load_params,
    replicate_seeds,
    stage_section,
    to_dict,
)


@dataclass(frozen=True)
class _Cfg(StageConfig):
    section = "toy"
    epochs: int = 1
    lr: float = 0.1
    names: tuple[str, ...] = ("a",)
    limit: int | None = None


def test_from_params_reads_its_own_section() -> None:
    params = {"d": {"toy": {"epochs": 3, "lr": 1, "names": ["x", "y"]}, "other": {}}}
    cfg = _Cfg.from_params(params, "d")
    assert cfg == _Cfg(epochs=3, lr=1.0, names=("x", "y"))
    assert isinstance(cfg.lr, float)
    assert to_dict(cfg) == {"epochs": 3, "lr": 1.0, "names": ["x", "y"], "limit": None}


def test_typo_names_the_dataset_section_and_valid_keys() -> None:
    with pytest.raises(ParamsError, match=r"d\.toy: unknown key\(s\) epoch; valid keys: epochs"):
        _Cfg.from_params({"d": {"toy": {"epoch": 3}}}, "d")


def test_wrong_type_refused() -> None:
    with pytest.raises(ParamsError, match="expected int"):
        from_mapping(_Cfg, {"epochs": "ten"}, "toy")
    with pytest.raises(ParamsError, match="expected an integer"):
        from_mapping(_Cfg, {"epochs": True}, "toy")


def test_missing_dataset_and_section() -> None:
    with pytest.raises(ParamsError, match="no section for dataset 'e'; sections: d"):
        stage_section({"d": {"toy": {}}}, "e", "toy")
    with pytest.raises(ParamsError, match=r"d\.train is missing"):
        stage_section({"d": {"toy": {}}}, "d", "train")


def test_load_params_errors(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    (tmp_path / "p.yaml").write_text("- 1\n")
    with pytest.raises(ParamsError, match="mapping at the top level"):
        load_params(tmp_path / "p.yaml")


def test_replicates_are_distinct_training_seeds() -> None:
    assert replicate_seeds({"replicates": [0, 1, 2]}) == [0, 1, 2]
    for bad in (None, [], [0, 0], [-1], ["a"], [True], 3):
        with pytest.raises(ParamsError, match="replicates must be a list of distinct"):
            replicate_seeds({"replicates": bad})
