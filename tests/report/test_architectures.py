"""The architecture comparison: rows from `dvc exp show --json` (the shape DVC 3.67 prints, also
read from a real experiment in tests/stages/test_pipeline.py), the comparison file and README's
table generated from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from seginterp.report import architectures as arch


def _exp(name: str, architecture: str, mdice: float, ts: str = "2026-12-02T01:00:00") -> dict:
    summary = {
        "test": {"mIoU": mdice - 0.05, "mDice": mdice},
        "n": {"test": 20, "scored": 20},
        "claims": {"held": 2, "not_held": 14, "inconclusive": 2},
        "skill": {"sal": 0.3, "dl": 0.1},
    }
    data = {
        "rev": "x",
        "timestamp": ts,
        "params": {"params.yaml": {"data": {"toy": {"model": {"architecture": architecture}}}}},
        "metrics": {"metrics/toy/summary.json": {"data": summary}},
    }
    rev = {"rev": f"rev-{name}-{ts}", "name": name, "data": data, "error": None}
    return {"revs": [rev], "executor": None, "name": name}


def _doc(*exps: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"rev": "workspace", "name": None, "data": {}, "error": None, "experiments": None},
        {"rev": "abc", "name": "main", "data": {}, "error": None, "experiments": list(exps)},
    ]


def test_rows_take_the_newest_experiment_per_architecture_and_the_refusals() -> None:
    doc = _doc(
        _exp("arch-unet", "unet", 0.90, "2026-12-01T00:00:00"),
        _exp("arch-unet", "unet", 0.95, "2026-12-02T00:00:00"),
        _exp("arch-pspnet", "pspnet", 0.80),
        _exp("other", "unet", 0.10),  # not part of the comparison
    )
    rows = arch.rows_from_exp_show(doc, "toy", {"fpn": "GroupNorm"}, ["unet", "fpn", "pspnet"])
    assert [r["architecture"] for r in rows] == ["unet", "fpn", "pspnet"]
    assert rows[0]["test"]["mDice"] == 0.95 and rows[0]["rev"].endswith("2026-12-02T00:00:00")
    assert rows[1] == {"architecture": "fpn", "refused": "GroupNorm"}
    table = arch.render(rows, "toy")
    assert "| `unet` | 0.950 | 0.900 | 0.3 | 0.1 | 2 / 14 / 2 | `rev-arc` |" in table
    assert "| `fpn` | refused: GroupNorm |" in table


def test_methods_an_architecture_cannot_run_are_marked_and_explained() -> None:
    fpn = _exp("arch-fpn", "fpn", 0.85)
    summary = fpn["revs"][0]["data"]["metrics"]["metrics/toy/summary.json"]["data"]
    summary["skill"] = {"sal": 0.2}
    summary["refused"] = {"dl": "DeepLIFT cannot be exact on FPN: GroupNorm"}
    rows = arch.rows_from_exp_show(_doc(_exp("arch-unet", "unet", 0.9), fpn), "toy", {},
                                   ["unet", "fpn"])  # fmt: skip
    assert rows[1]["not_run"] == {"dl": "DeepLIFT cannot be exact on FPN: GroupNorm"}
    assert "not_run" not in rows[0]
    table = arch.render(rows, "toy")
    assert "| `fpn` | 0.850 | 0.800 | 0.2 | not run | 2 / 14 / 2 | `rev-arc` |" in table, table
    assert (
        table.splitlines()[-2] == "- `fpn`, dl not run: DeepLIFT cannot be exact on FPN: GroupNorm"
    )


def test_a_partial_comparison_marks_the_architectures_not_run_yet() -> None:
    doc = _doc(_exp("arch-unet", "unet", 0.9))
    with pytest.raises(arch.ComparisonError, match="no experiment for fpn"):
        arch.rows_from_exp_show(doc, "toy", {}, ["unet", "fpn"])
    rows = arch.rows_from_exp_show(doc, "toy", {}, ["unet", "fpn"], partial=True)
    assert rows[1] == {"architecture": "fpn", "pending": "no experiment arch-fpn yet"}
    assert "| `fpn` | not run yet (`make compare`) |" in arch.render(rows, "toy")


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        (_doc(_exp("arch-unet", "pspnet", 0.9)), "ran architecture 'pspnet', not 'unet'"),
        (_doc(), "no experiment for unet: run `make compare`"),
    ],
)
def test_a_wrong_or_missing_experiment_is_an_error(doc, match) -> None:
    with pytest.raises(arch.ComparisonError, match=match):
        arch.rows_from_exp_show(doc, "toy", {}, ["unet"])


def test_a_failed_experiment_is_an_error() -> None:
    exp = _exp("arch-unet", "unet", 0.9)
    exp["revs"][0]["error"] = {"type": "ReproductionError", "msg": "failed"}
    with pytest.raises(arch.ComparisonError, match="arch-unet failed"):
        arch.rows_from_exp_show(_doc(exp), "toy", {}, ["unet"])


def test_readme_table_is_generated_from_the_comparison_file(tmp_path: Path) -> None:
    rows = arch.rows_from_exp_show(_doc(_exp("arch-unet", "unet", 0.9)), "toy", {}, ["unet"])
    table = arch.table_path(tmp_path, "toy")
    arch.write_table(table, rows, "toy")
    assert arch.read_table(table) == ("toy", rows)
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\n\n{arch.BEGIN}\nold\n{arch.END}\ntail\n")
    assert arch.check_readme(readme, table)  # stale
    assert arch.update_readme(readme, table)
    assert arch.check_readme(readme, table) == []
    assert "| `unet` | 0.900 |" in readme.read_text()
    assert readme.read_text().endswith("\ntail\n")
    readme.write_text(readme.read_text().replace("0.900", "0.901"))  # edited by hand
    assert arch.check_readme(readme, table)
