import json
import os
import subprocess
import sys

import pytest

from seginterp.core import determinism


def test_cpu_threads_param() -> None:
    assert determinism.cpu_threads({}) is None
    assert determinism.cpu_threads({"scale": {"cpu_threads": None}}) is None
    assert determinism.cpu_threads({"scale": {"cpu_threads": 3}}) == 3
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"scale.cpu_threads must be an integer >= 1 or null"):
            determinism.cpu_threads({"scale": {"cpu_threads": bad}})


def test_numerics_param_defaults_to_portable() -> None:
    assert determinism.numerics({}) == "portable"
    assert determinism.numerics({"scale": {"numerics": "native"}}) == "native"
    with pytest.raises(ValueError, match=r"numerics must be one of portable, native, got 'x'"):
        determinism.numerics({"scale": {"numerics": "x"}})


def test_portable_pins_its_variables_and_native_leaves_the_users() -> None:
    env = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "avx512", "OPENBLAS_CORETYPE": "Zen"}
    determinism.export_env("portable", env)
    assert env["MKL_CBWR"] == "AVX2,STRICT" and env["ATEN_CPU_CAPABILITY"] == "avx2"
    assert env["OPENBLAS_CORETYPE"] == "Zen"  # a machine's own core type is kept
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    native = {"MKL_CBWR": "COMPATIBLE"}
    determinism.export_env("native", native)
    assert native == {"MKL_CBWR": "COMPATIBLE", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    determinism.export_env("native", empty := {})
    assert empty["MKL_CBWR"] == "AUTO,STRICT"


def test_portable_needs_an_x86_64_cpu_with_avx2_and_fma() -> None:
    ok = "processor: 0\nflags\t\t: fpu sse2 avx avx2 fma bmi2\n"
    assert determinism.missing_cpu_flags(ok, "x86_64") == []
    assert determinism.missing_cpu_flags("flags : fpu sse2 avx\n", "x86_64") == ["avx2", "fma"]
    assert determinism.missing_cpu_flags(ok, "aarch64") == ["an x86-64 CPU (this is aarch64)"]
    with pytest.raises(ValueError, match=r"portable needs avx2 and fma; set scale\.numerics"):
        determinism.check_portable("portable", "flags : sse2 avx\n", "x86_64")
    determinism.check_portable("native", "flags : sse2\n", "x86_64")


PROBE = """
import json, sys
from seginterp.core.determinism import make_deterministic
mode = sys.argv[1]
threads = make_deterministic({"scale": {"cpu_threads": 1, "numerics": mode}})
import os, numpy, torch
from numpy._core._multiarray_umath import __cpu_features__ as f
print(json.dumps({
    "threads": threads, "capability": torch.backends.cpu.get_cpu_capability(),
    "mkldnn": torch.backends.mkldnn.enabled, "nnpack": torch._C._get_nnpack_enabled(),
    "deterministic": torch.are_deterministic_algorithms_enabled(),
    "cudnn": [torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark],
    "mkl_cbwr": os.environ["MKL_CBWR"], "numpy_v4": bool(f.get("X86_V4")),
}))
"""


def probe(mode: str, env: dict[str, str], code: str = PROBE) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MKL", "ATEN"))}
    return subprocess.run(
        [sys.executable, "-c", code, mode], env=base | env, capture_output=True, text=True
    )


def test_make_deterministic_applies_the_mode_in_a_fresh_process() -> None:
    r = probe("portable", {"ATEN_CPU_CAPABILITY": "default"})
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got == {
        "threads": 1, "capability": "AVX2", "mkldnn": False, "nnpack": False,
        "deterministic": True, "cudnn": [True, False], "mkl_cbwr": "AVX2,STRICT",
        "numpy_v4": False,
    }  # fmt: skip
    native = json.loads(probe("native", {"ATEN_CPU_CAPABILITY": "default"}).stdout)
    assert native["capability"] == "DEFAULT" and native["mkldnn"] and native["nnpack"]
    assert native["mkl_cbwr"] == "AUTO,STRICT"


def test_portable_refuses_a_torch_that_chose_its_kernels_before() -> None:
    late = "import torch; torch.ones(2).sum()\n" + PROBE
    r = probe("portable", {"ATEN_CPU_CAPABILITY": "default"}, late)
    assert r.returncode != 0
    assert "portable: torch runs its DEFAULT kernels, chosen before the settings" in r.stderr
