"""DVC dependencies follow the imports; stage scripts stay thin and quick to ask for --help.

Each stage of dvc.yaml depends on its script and on exactly the library files its imports reach
(AST walk, imports inside functions included, transitively; a package's ``__init__.py`` counts for
every module below it). A narrowed dep can therefore never hide a change, and a dep nobody imports
would rerun a stage for nothing.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from import_walk import SRC, imported_modules, module_file, with_parents
from support import ROOT

HEAVY = ("torch", "numpy", "pandas", "captum", "segmentation_models_pytorch", "matplotlib")


def reached_files(entry: Path) -> set[Path]:
    """Library files reached from ``entry`` through imports, transitively (with __init__ files)."""
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        path = todo.pop()
        for module in imported_modules(path):
            for name in with_parents(module):
                f = module_file(name)
                if f is not None and f not in seen:
                    seen.add(f)
                    todo.append(f)
    return seen


def _stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _spec(stage: str) -> dict:
    """A stage's definition: the body of its ``foreach`` (``do``) or of its ``matrix``."""
    spec = _stages()[stage]
    return spec["do"] if "do" in spec else spec


def _entries(cmd: str) -> list[Path]:
    """The scripts and ``-m`` modules a stage command runs."""
    words = shlex.split(cmd)
    out = [ROOT / w for w in words if w.endswith(".py")]
    for i, w in enumerate(words[:-1]):
        if w == "-m" and module_file(words[i + 1]) is not None:
            out.append(module_file(words[i + 1]))
    return out


def _covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


STAGES = sorted(_stages())


@pytest.mark.parametrize("stage", STAGES)
def test_deps_cover_every_import(stage: str) -> None:
    spec = _spec(stage)
    deps = [str(d) for d in spec["deps"]]
    entries = _entries(spec["cmd"])
    assert entries, f"{stage}: no script found in its cmd"
    reached = set().union(*(reached_files(e) for e in entries))
    missing = sorted(
        p.relative_to(ROOT).as_posix() for p in reached | set(entries) if not _covered(p, deps)
    )
    assert not missing, f"dvc.yaml stage {stage!r} imports files not in its deps: {missing}"


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_that_computes_floats_depends_on_the_numerics_params(stage: str) -> None:
    """A stage that applies ``make_deterministic`` reruns when ``scale.cpu_threads`` or
    ``scale.numerics`` changes: both change its bytes (seginterp.core.determinism)."""
    spec = _spec(stage)
    script = next(e for e in _entries(spec["cmd"]) if e.parent.name == "stages")
    if "make_deterministic(" not in script.read_text():
        return
    params = {p for p in spec["params"] if isinstance(p, str)}
    assert {"scale.cpu_threads", "scale.numerics"} <= params or "scale" in params, stage


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_tracks_its_dataset_params_in_the_effective_file(stage: str) -> None:
    """Every stage after check tracks its dataset's params in data/<D>/params.yaml (the merged
    defaults + overrides the check stage writes), never in params.yaml's sections, so a changed
    default reruns exactly the stages whose effective value changed (tests/stages/test_params)."""
    spec = _spec(stage)
    params = spec.get("params") or []
    direct = [p for p in params if isinstance(p, str) and p.startswith("${item")]
    files = [k for p in params if isinstance(p, dict) for k in p]
    if stage == "check":
        assert {"defaults", "${item}"} <= set(params), params
        return
    assert not direct, (stage, direct)
    assert set(files) <= {"data/${item}/params.yaml", "data/${item.dataset}/params.yaml"}, files


@pytest.mark.parametrize("stage", STAGES)
def test_deps_name_nothing_unused(stage: str) -> None:
    spec = _spec(stage)
    entries = _entries(spec["cmd"])
    used = set().union(*(reached_files(e) for e in entries)) | set(entries)
    unused = [
        d
        for d in spec["deps"]
        if str(d).startswith(("src/", "stages/")) and not any(_covered(p, [str(d)]) for p in used)
    ]
    assert not unused, f"dvc.yaml stage {stage!r} depends on files it never imports: {unused}"


def test_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("def main():\n    from seginterp.core.io import write_json\n")
    reached = {p.relative_to(SRC).as_posix() for p in reached_files(script)}
    assert {
        "seginterp/__init__.py",
        "seginterp/core/__init__.py",
        "seginterp/core/io.py",
    } <= reached


@pytest.mark.parametrize("stage", STAGES)
def test_stage_script_is_thin_and_lazy(stage: str) -> None:
    """≤ 80 lines; importing it (what --help needs) loads none of the heavy libraries."""
    script = ROOT / "stages" / f"{stage}.py"
    assert len(script.read_text().splitlines()) <= 80, f"{script} has more than 80 lines"
    probe = (
        "import runpy, sys; runpy.run_path(sys.argv[1], run_name='probe'); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe, str(script)], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"{stage}.py imports {r.stdout.strip()} before its command runs"


@pytest.mark.parametrize("stage", STAGES)
def test_every_option_has_help(stage: str) -> None:
    import click

    ns = __import__("runpy").run_path(str(ROOT / "stages" / f"{stage}.py"), run_name="probe")
    cmd = next(v for v in ns.values() if isinstance(v, click.Command))
    bare = [p.name for p in cmd.params if isinstance(p, click.Option) and not p.help]
    assert not bare, f"stages/{stage}.py: options without help text: {bare}"
