"""Split specs (counts or fractions) and the seeded, group-aware split."""

from __future__ import annotations

import numpy as np
import pytest

from seginterp.core.params import ParamsError
from seginterp.data.sources.base import DatasetError
from seginterp.data.splits import assign_splits, split_targets


def test_split_targets() -> None:
    fr = {"train": 0.8, "val": 0.1, "test": 0.1}
    assert split_targets(fr, 200) == {"train": 160, "val": 20, "test": 20}
    assert sum(split_targets(fr, 24).values()) == 24
    assert split_targets({"train": 8, "val": 1, "test": 1}, 12) == {"train": 8, "val": 1, "test": 1}
    with pytest.raises(DatasetError, match="only 40 usable images were found"):
        split_targets({"train": 800, "val": 100, "test": 100}, 40)
    with pytest.raises(ParamsError, match="sum to 1"):
        split_targets({"train": 0.8, "val": 0.1, "test": 0.2}, 10)
    with pytest.raises(ParamsError, match="exactly the keys"):
        split_targets({"train": 0.8, "valid": 0.2}, 10)
    with pytest.raises(ParamsError, match="numbers"):
        split_targets({"train": "8", "val": 1, "test": 1}, 10)


def test_assign_splits_singletons_exact_and_seeded() -> None:
    groups = [f"g{i}" for i in range(100)]
    spec = {"train": 0.7, "val": 0.2, "test": 0.1}
    a = assign_splits(groups, spec, seed=0)
    assert [a.count(s) for s in ("train", "val", "test")] == [70, 20, 10]
    assert a == assign_splits(groups, spec, seed=0)
    assert a != assign_splits(groups, spec, seed=1)
    # counts summing to less than n leave the rest unused
    b = assign_splits(groups, {"train": 50, "val": 10, "test": 10}, seed=0)
    assert [b.count(s) for s in ("train", "val", "test", None)] == [50, 10, 10, 30]


def test_assign_splits_keeps_groups_together() -> None:
    rng = np.random.default_rng(0)
    groups = [f"L{j}" for j in range(300) for _ in range(int(rng.integers(1, 5)))]
    n = len(groups)
    out = assign_splits(groups, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=4)
    by_group: dict[str, set[str | None]] = {}
    for g, s in zip(groups, out, strict=True):
        by_group.setdefault(g, set()).add(s)
    assert all(len(s) == 1 for s in by_group.values())
    assert None not in out
    for split, frac in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        assert abs(out.count(split) - frac * n) <= 2  # targets met within half the largest group
