"""Helpers shared by the tests: project paths, isolated DVC/git environments, commands."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def run_cmd(args: list[str], cwd: Path, env: Mapping[str, str], timeout: float = 900) -> str:
    """Run a command; fail the test with its output when it exits non-zero."""
    r = subprocess.run(
        args, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    out = r.stdout + r.stderr
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({r.returncode}):\n{out}")
    return out


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """Environment that keeps DVC and git away from the user's config, cache and analytics."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(tmp_path / "dvc-site"),
        "DVC_GLOBAL_CONFIG_DIR": str(tmp_path / "dvc-global"),
        "DVC_SYSTEM_CONFIG_DIR": str(tmp_path / "dvc-system"),
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
    }


def user_folder(root: Path) -> Path:
    """A user's images/ + masks/ folder with two (fake) pairs."""
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
        for stem in ("a", "b"):
            (root / sub / f"{stem}.png").write_bytes(f"{sub}-{stem}".encode())
    return root


def user_discs(root: Path, n: int = 24, size: int = 32) -> Path:
    """A user's folder as the README lays it out: images/ (a bright disc each), masks/ (0/255)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        cy, cx = rng.integers(8, size - 8, 2)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= rng.integers(4, 8) ** 2
        image = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
        image[disc] += 150
        Image.fromarray(image).save(root / "images" / f"case{i:02d}.png")
        Image.fromarray(disc.astype(np.uint8) * 255).save(root / "masks" / f"case{i:02d}.png")
    return root


def make_repo(
    root: Path, params: Mapping[str, Any], stages: Iterable[str] | None = None, name: str = "repo"
) -> tuple[Path, dict[str, str]]:
    """A git + DVC repo with the project's stages/, src/, dvc.yaml (optionally only some
    stages), .gitignore and the given params.yaml, committed, in ``root/<name>``; its isolated
    environment lives under ``root``. Returns (path, env)."""
    repo = root / name
    repo.mkdir()
    import shutil

    import yaml

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "stages", repo / "stages", ignore=ignore)
    # A copy, not a symlink: DVC does not hash through a symlinked directory dep.
    shutil.copytree(ROOT / "src", repo / "src", ignore=ignore)
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    if stages is not None:
        keep = set(stages)
        pipeline["stages"] = {k: v for k, v in pipeline["stages"].items() if k in keep}
        missing = keep - set(pipeline["stages"])
        if missing:
            raise ValueError(f"dvc.yaml has no stage(s) {sorted(missing)}")
    (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    (repo / "params.yaml").write_text(yaml.safe_dump(dict(params), sort_keys=False))
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    env = isolated_env(root)
    run_cmd(["git", "init", "-q"], repo, env)
    run_cmd([sys.executable, "-m", "dvc", "init", "-q"], repo, env)
    run_cmd(["git", "add", "-A"], repo, env)
    run_cmd(["git", "commit", "-q", "-m", "init"], repo, env)
    return repo, env


def small_synthetic_params() -> dict:
    """The project's params for the synthetic dataset only, its data shrunk to 24 images of
    32 px (every section present: the check stage validates them all)."""
    import copy

    from seginterp.core.params import load_params

    full = load_params(ROOT / "params.yaml")
    syn = copy.deepcopy(full["synthetic"])
    syn["download"].update(n_images=24, size=32, seed=0)
    syn["preprocess"].update(
        image_size=32, split={"train": 0.75, "val": 0.125, "test": 0.125}, seed=0
    )
    return {"datasets": ["synthetic"], "replicates": [0], "scale": full["scale"],
            "defaults": full["defaults"], "synthetic": syn}  # fmt: skip


def ran_stages(out: str) -> list[str]:
    """Stages a `dvc repro` output says it ran, the always-run check stage left out."""
    import re

    return [s for s in re.findall(r"Running stage '([^']+)'", out) if not s.startswith("check@")]


def status_clean(out: str) -> bool:
    """`dvc status` reports nothing but the always-changed check stage."""
    if "Data and pipelines are up to date." in out:
        return True
    heads = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith((" ", "\t"))]
    body = [ln.strip() for ln in out.splitlines() if ln.startswith((" ", "\t"))]
    return all(h.startswith("check@") for h in heads) and set(body) <= {"always changed"}


def tiny_params() -> dict[str, Any]:
    """The project's synthetic section, shrunk to seconds: 32 px, 24 images, 2 epochs, one
    replicate (seed 0)."""
    import copy

    from seginterp.core.params import load_params

    full = load_params(ROOT / "params.yaml")
    syn = copy.deepcopy(full["synthetic"])
    syn["download"].update(n_images=24, size=32)
    syn["preprocess"]["image_size"] = 32
    syn["model"]["decoder_channels"] = [16, 8, 8, 4, 4]
    syn["train"].update(epochs=2, batch_size=8, checkpoint_every=1)  # a checkpoint mid-run
    syn["attribute"].update(
        layers=["encoder1", "bottleneck", "decoder5"], ig_steps=4, sample_k=4, chunk_size=4
    )
    syn["evaluate"].update(
        n_perturb_samples=8,
        sensitivity_samples=2,
        sensitivity_max_images=1,
        recompute_max_pixels=4,
        sanity_images=1,
        figure_images=2,
        bootstrap=50,
    )
    return {"datasets": ["synthetic"], "replicates": [0], "scale": full["scale"],
            "defaults": full["defaults"], "synthetic": syn}  # fmt: skip


def out_hashes(repo: Path) -> dict[str, str]:
    """``{output path: md5}`` of every stage in ``repo/dvc.lock`` but the check stage."""
    import yaml

    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {
        out["path"]: out["md5"]
        for name, stage in lock["stages"].items()
        if not name.startswith("check@")
        for out in stage.get("outs", [])
    }
