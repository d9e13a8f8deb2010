"""Same params, same bytes: the process-wide settings every computing stage applies first.

``scale.numerics`` chooses how far the bytes carry (docs/reproducibility.md):

- ``portable`` (default): the same bytes on every x86-64 CPU with AVX2 and FMA (x86-64-v3:
  Intel since Haswell, AMD since Zen), whatever else the CPU has. Each library's choice of code
  path by CPU is pinned to AVX2:

  - ``MKL_CBWR=AVX2,STRICT``: MKL's conditional numerical reproducibility on its AVX2 branch
    (STRICT: bitwise for a fixed thread count) — the sgemm of every convolution;
  - ``ATEN_CPU_CAPABILITY=avx2``: PyTorch's own vectorized kernels (reductions, BatchNorm,
    activations, Sleef math) at one vector width;
  - oneDNN off (``torch.backends.mkldnn``): it picks convolution kernels and blockings by
    instruction set and cache size; convolutions then run as im2col + MKL sgemm. NNPACK off.
    ``ONEDNN_MAX_CPU_ISA=AVX2`` for any op that still reaches oneDNN;
  - ``NPY_DISABLE_CPU_FEATURES``: NumPy's AVX-512 loops off; OpenBLAS (NumPy, SciPy) on one
    thread and, unless the machine sets one, the Haswell kernels.

- ``native``: the machine's fastest code paths, ``MKL_CBWR=AUTO,STRICT``: results repeat on one
  CPU model only.

Both fix the CPU thread count (``scale.cpu_threads``: STRICT holds for one count),
``torch.use_deterministic_algorithms(True, warn_only=True)``, cuDNN deterministic without
autotuning and ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (CUDA: ops without a deterministic kernel
warn, naming the op).

The variables must be in place before NumPy, SciPy and MKL start and before torch's first
kernel: the launcher (:mod:`seginterp.core.launch`) exports them before the stage script
starts, and :func:`make_deterministic` sets them again for a script run directly, then checks
that torch and NumPy use them.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

THREADS = ("scale", "cpu_threads")
NUMERICS = ("scale", "numerics")
MODES = ("portable", "native")

COMMON: dict[str, str] = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
PINNED: dict[str, dict[str, str]] = {
    "portable": {
        "MKL_CBWR": "AVX2,STRICT",
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
        "OPENBLAS_NUM_THREADS": "1",
    },
    "native": {},
}
"""Variables a mode sets whatever the environment holds (the mode's guarantee needs them)."""
DEFAULTS: dict[str, dict[str, str]] = {
    "portable": {"OPENBLAS_CORETYPE": "Haswell"},
    "native": {"MKL_CBWR": "AUTO,STRICT"},
}
"""Variables a mode sets only where the environment has none (a machine may need its own
OpenBLAS core type)."""
CPU_FLAGS = ("avx2", "fma")


def cpu_threads(params: Mapping[str, Any]) -> int | None:
    """``scale.cpu_threads`` (None: torch's default, the machine's core count)."""
    value = (params.get(THREADS[0]) or {}).get(THREADS[1])
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{'.'.join(THREADS)} must be an integer >= 1 or null, got {value!r}")
    return value


def numerics(params: Mapping[str, Any]) -> str:
    """``scale.numerics``: ``portable`` (default) or ``native``."""
    value = (params.get(NUMERICS[0]) or {}).get(NUMERICS[1], "portable")
    if value not in MODES:
        raise ValueError(f"{'.'.join(NUMERICS)} must be one of {', '.join(MODES)}, got {value!r}")
    return str(value)


def missing_cpu_flags(cpuinfo: str | None = None, machine: str | None = None) -> list[str]:
    """What this CPU lacks for ``portable``: the x86-64 flags of :data:`CPU_FLAGS` absent from
    /proc/cpuinfo (not read where absent), or the architecture itself when not x86-64."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return [f"an x86-64 CPU (this is {machine})"]
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        if not path.is_file():
            return []
        cpuinfo = path.read_text()
    line = next((ln for ln in cpuinfo.splitlines() if ln.startswith("flags")), "")
    flags = set(line.partition(":")[2].split())
    return [f for f in CPU_FLAGS if f not in flags]


def check_portable(mode: str, cpuinfo: str | None = None, machine: str | None = None) -> None:
    """Refuse ``portable`` on a CPU that cannot run the pinned code paths."""
    missing = missing_cpu_flags(cpuinfo, machine) if mode == "portable" else []
    if missing:
        raise ValueError(
            f"{'.'.join(NUMERICS)}: portable needs {' and '.join(missing)}; set "
            f"{'.'.join(NUMERICS)}: native (results then repeat on this machine only)"
        )


def environment(mode: str) -> tuple[dict[str, str], dict[str, str]]:
    """(variables set always, variables set where absent) of ``mode``."""
    if mode not in MODES:
        raise ValueError(f"numerics must be one of {', '.join(MODES)}, got {mode!r}")
    return PINNED[mode], {**COMMON, **DEFAULTS[mode]}


def export_env(mode: str, environ: MutableMapping[str, str] | None = None) -> None:
    """Put ``mode``'s variables into ``environ`` (default: this process's environment)."""
    environ = os.environ if environ is None else environ
    pinned, defaults = environment(mode)
    environ.update(pinned)
    for key, value in defaults.items():
        environ.setdefault(key, value)


def make_deterministic(params: Mapping[str, Any]) -> int:
    """Apply ``scale.numerics`` and ``scale.cpu_threads`` of ``params`` to this process; returns
    the number of CPU threads torch uses. Raises ValueError when a library has already chosen
    its code path against ``portable`` (imported or run before this call)."""
    threads = cpu_threads(params)
    mode = numerics(params)
    check_portable(mode)
    export_env(mode)
    import torch

    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    portable = mode == "portable"
    torch.backends.mkldnn.enabled = not portable
    torch.backends.nnpack.set_flags(not portable)
    if portable:
        _check_pinned(torch.backends.cpu.get_cpu_capability())
    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def _check_pinned(capability: str) -> None:
    late = []
    if capability != "AVX2":
        late.append(f"torch runs its {capability} kernels")
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        from numpy._core._multiarray_umath import __cpu_features__  # numpy >= 2.4

        if __cpu_features__.get("X86_V4"):
            late.append("NumPy runs its AVX-512 loops")
    if late:
        raise ValueError(
            f"{'.'.join(NUMERICS)}: portable: {'; '.join(late)}, chosen before the settings were "
            "applied; start the stage through `python -m seginterp.core.launch` or call "
            "make_deterministic before importing NumPy or running torch"
        )
