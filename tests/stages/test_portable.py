"""Portable numerics (``scale.numerics: portable``): train and attribute give the same bytes when
this CPU is made to behave like another, and other bytes when the pins are off.

A CPU with other instruction sets (AVX-512, or without AVX2) makes each library choose another
code path. The caps below make this CPU do the same: ``ONEDNN_MAX_CPU_ISA`` and
``MKL_ENABLE_INSTRUCTIONS`` cap oneDNN and MKL as a CPU without AVX2 would;
``ATEN_CPU_CAPABILITY`` and ``NPY_DISABLE_CPU_FEATURES`` move PyTorch's and NumPy's own choice of
kernels, as a CPU with other vector units moves it (``portable`` sets both variables itself,
as it overrides the choice on such a CPU). ``portable`` pins each choice, so the caps must
change nothing; ``native`` leaves them to the CPU, so the same caps must change the model.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest
import yaml
from support import ROOT, run_cmd, tiny_params

CAPS = {
    "ATEN_CPU_CAPABILITY": "default",
    "ONEDNN_MAX_CPU_ISA": "AVX",
    "MKL_ENABLE_INSTRUCTIONS": "AVX",
    "NPY_DISABLE_CPU_FEATURES": "X86_V3",
}
UNSET = (*CAPS, "MKL_CBWR", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (run facts under logs/ left out)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "resume" not in p.parts
    }


def stage(name: str, *args: str, launch: bool = False) -> list[str]:
    head = [sys.executable, "-m", "seginterp.core.launch"] if launch else [sys.executable]
    return [*head, str(ROOT / "stages" / f"{name}.py"), "--dataset", "synthetic", *args]


def run(tmp: Path, mode: str, caps: dict[str, str], *, explain: bool) -> dict[str, str]:
    """Train (and predict, find borders, explain one image) in fresh processes under ``caps``;
    the digests of what they wrote."""
    out = tmp / f"{mode}-{'capped' if caps else 'best'}"
    params = yaml.safe_load((tmp / "params.yaml").read_text())
    params["scale"]["numerics"] = mode
    out.mkdir()
    (out / "params.yaml").write_text(yaml.safe_dump(params))
    env = {k: v for k, v in os.environ.items() if k not in UNSET} | caps
    prep = str(tmp / "prepared")
    p = ("--params", "params.yaml")
    run_cmd(stage("train", *p, "--prepared", prep, "--out", "model", "--live", "live",
                  launch=True), out, env)  # fmt: skip
    if explain:
        run_cmd(stage("predict", *p, "--prepared", prep, "--model", "model", "--out", "pred",
                      "--metrics", "seg.json"), out, env)  # fmt: skip
        run_cmd(stage("borders", "--predictions", "pred", "--out", "borders",
                      "--metrics", "borders.json"), out, env)  # fmt: skip
        run_cmd(stage("attribute", *p, "--prepared", prep, "--model", "model",
                      "--predictions", "pred", "--borders", "borders", "--out", "attr",
                      "--table", "attr.parquet", launch=True), out, env)  # fmt: skip
    found = {k: v for k, v in digests(out).items() if not k.startswith(("logs/", "params"))}
    assert "model/model.pt" in found and (not explain or "attr.parquet" in found)
    return found


@pytest.mark.slow
def test_portable_bytes_do_not_follow_the_cpu_and_native_ones_do(tmp_path: Path) -> None:
    params = tiny_params()
    params["synthetic"]["attribute"]["max_images"] = 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    p = ("--params", "params.yaml")
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    run_cmd(stage("download", *p, "--out", "raw"), tmp_path, env)
    run_cmd(stage("preprocess", *p, "--raw", "raw", "--out", "prepared"), tmp_path, env)

    best = run(tmp_path, "portable", {}, explain=True)
    capped = run(tmp_path, "portable", CAPS, explain=True)
    assert capped == best

    native_best = run(tmp_path, "native", {}, explain=False)
    native_capped = run(tmp_path, "native", CAPS, explain=False)
    assert native_capped["model/model.pt"] != native_best["model/model.pt"]
