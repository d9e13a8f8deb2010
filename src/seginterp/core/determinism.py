"""Same params, same bytes: the process-wide settings every computing stage applies first.

- ``MKL_CBWR=AUTO,STRICT``: MKL's conditional numerical reproducibility. Without it, the sgemm
  inside CPU convolution backward (the im2col path torch takes for batch 1 and small inputs,
  which is every explanation) varies in the last bits from call to call on 2 threads.
- A fixed CPU thread count (``scale.cpu_threads``): STRICT reproducibility holds for one thread
  count, so the count is a param, not the machine's core count.
- ``torch.use_deterministic_algorithms(True, warn_only=True)``, cuDNN deterministic without
  autotuning, ``CUBLAS_WORKSPACE_CONFIG=:4096:8``. On CUDA, ops without a deterministic kernel
  warn instead of failing, naming the op: those runs are repeatable only up to float rounding.

The environment variables are only set when absent, so a user can override them; they must be
in place before the first MKL call, which the stage scripts guarantee by calling
:func:`make_deterministic` before any computation (the launcher also exports them).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

ENV: dict[str, str] = {"MKL_CBWR": "AUTO,STRICT", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
PARAM = ("scale", "cpu_threads")


def cpu_threads(params: Mapping[str, Any]) -> int | None:
    """``scale.cpu_threads`` (None: torch's default, the machine's core count)."""
    value = (params.get(PARAM[0]) or {}).get(PARAM[1])
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{'.'.join(PARAM)} must be an integer >= 1 or null, got {value!r}")
    return value


def export_env(environ: dict[str, str] | None = None) -> None:
    """Set the reproducibility variables of :data:`ENV` that ``environ`` lacks."""
    environ = os.environ if environ is None else environ
    for key, value in ENV.items():
        environ.setdefault(key, value)


def make_deterministic(params: Mapping[str, Any]) -> int:
    """Apply the module's settings with ``scale.cpu_threads`` of ``params``; returns the number
    of CPU threads torch uses."""
    threads = cpu_threads(params)
    export_env()
    import torch

    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()
