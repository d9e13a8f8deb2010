"""Seeded, group-aware train/val/test splits from a split spec of image counts or fractions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from seginterp.core.params import ParamsError
from seginterp.data.prepared import SPLITS
from seginterp.data.sources.base import DatasetError


def check_split_spec(spec: Mapping[str, Any]) -> str:
    """Validate a split spec; return ``"counts"`` (all ints) or ``"fractions"`` (any float)."""
    if not isinstance(spec, Mapping) or set(spec) != set(SPLITS):
        got = sorted(spec) if isinstance(spec, Mapping) else spec
        raise ParamsError(f"preprocess.split must have exactly the keys {SPLITS}; got {got}")
    vals = [spec[s] for s in SPLITS]
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in vals):
        raise ParamsError(f"preprocess.split values must be numbers; got {dict(spec)}")
    if any(v < 0 for v in vals):
        raise ParamsError(f"preprocess.split values must be >= 0; got {dict(spec)}")
    if all(isinstance(v, int) for v in vals):
        if spec["train"] < 1:
            raise ParamsError(f"preprocess.split.train must be >= 1; got {dict(spec)}")
        return "counts"
    if abs(sum(vals) - 1.0) > 1e-6:
        raise ParamsError(
            f"preprocess.split fractions must sum to 1 (got {sum(vals):g}: {dict(spec)}); "
            "use integers for image counts"
        )
    if spec["train"] <= 0:
        raise ParamsError(f"preprocess.split.train must be > 0; got {dict(spec)}")
    return "fractions"


def split_targets(spec: Mapping[str, Any], n: int) -> dict[str, int]:
    """Image counts per split for ``n`` accepted images.

    Counts are taken as they are (fewer than ``n`` in total leaves the rest unused; more fails).
    Fractions are turned into counts summing to ``n`` by largest remainder.
    """
    kind = check_split_spec(spec)
    if kind == "counts":
        need = sum(int(spec[s]) for s in SPLITS)
        if need > n:
            raise DatasetError(
                f"the split asks for {need} images ({', '.join(f'{s} {spec[s]}' for s in SPLITS)})"
                f" but only {n} usable images were found; lower the counts in "
                "<dataset>.preprocess.split or use fractions (e.g. 0.8/0.1/0.1)"
            )
        return {s: int(spec[s]) for s in SPLITS}
    exact = np.array([float(spec[s]) * n for s in SPLITS])
    base = np.floor(exact).astype(int)
    rest = n - int(base.sum())
    order = np.argsort(-(exact - base), kind="stable")  # largest remainder, ties in SPLITS order
    base[order[:rest]] += 1
    return {s: int(c) for s, c in zip(SPLITS, base, strict=True)}


def assign_splits(groups: Sequence[str], spec: Mapping[str, Any], seed: int) -> list[str | None]:
    """Seeded, group-aware split: the split of every item (None = unused), one group one split.

    Groups are shuffled with ``seed``, then placed largest first (stable), each into the split
    whose target count is furthest from being met. With one item per group this is a plain
    seeded random split with exact counts. With larger groups the counts are targets met as
    closely as this greedy allows (a split may miss by up to about half the largest group).
    When the targets sum to fewer items than there are (counts), a group is left unused
    rather than overshoot a split by more than it fills.
    """
    n = len(groups)
    targets = split_targets(spec, n)
    fill_all = sum(targets.values()) == n
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    names = sorted(members)
    perm = np.random.default_rng(seed).permutation(len(names))
    order = sorted(perm.tolist(), key=lambda j: -len(members[names[j]]))
    deficit = dict(targets)
    out: list[str | None] = [None] * n
    for j in order:
        idx = members[names[j]]
        split = max(SPLITS, key=lambda s: deficit[s])
        if not fill_all and 2 * deficit[split] < len(idx):
            continue
        deficit[split] -= len(idx)
        for i in idx:
            out[i] = split
    return out
