"""Timing helper shared by the bench scripts (run as ``python bench/<name>.py``, so this
directory is on ``sys.path``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timeit(fn: Callable[[], object], repeat: int = 1, warmup: bool = False) -> float:
    """Median wall time of ``repeat`` calls of ``fn`` (after one untimed call with ``warmup``)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
