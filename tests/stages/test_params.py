"""params.yaml by difference: the check stage writes each dataset's effective params
(data/<D>/params.yaml) and every later stage tracks its sections there, so DVC reruns a stage when
its effective value changes, through a default or an override, and no other; `dvc params diff`
and `dvc exp show` show the default or override and the effective value both."""

from __future__ import annotations

import json
import re
import sys

import pytest
import yaml
from support import ROOT, make_repo, run_cmd

from seginterp.core.params import load_params


def _ran(out: str) -> set[str]:
    return {s for s in re.findall(r"Running stage '([^']+)'", out) if not s.startswith("check@")}


def _diff(repo, env) -> dict[str, dict[str, tuple]]:
    """`dvc params diff --json` as {file: {param: (old, new)}}."""
    out = run_cmd([sys.executable, "-m", "dvc", "params", "diff", "--json"], repo, env)
    doc = json.loads(out or "{}")
    return {f: {k: (v["old"], v["new"]) for k, v in d.items()} for f, d in doc.items()}


@pytest.mark.slow
def test_a_default_reruns_the_stages_that_take_it_and_an_override_its_own(tmp_path) -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    small = {"source": "synthetic", "n_images": 24, "size": 32, "seed": 0}
    params = {
        "datasets": ["a", "b"],
        "replicates": [0],
        "scale": raw["scale"],
        "defaults": raw["defaults"],
        "a": {"download": small, "preprocess": {"image_size": 32}},
        "b": {"download": small, "preprocess": {"image_size": 32, "seed": 1}},
    }
    repo, env = make_repo(tmp_path, params, stages=["check", "download", "preprocess"])
    dvc = [sys.executable, "-m", "dvc"]

    def repro(edit) -> set[str]:
        edit(params)
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        return _ran(run_cmd([*dvc, "repro"], repo, env, timeout=600))

    assert repro(lambda p: None) == {f"{s}@{d}" for s in ("download", "preprocess") for d in "ab"}
    effective = load_params(repo / "params.yaml")
    for d in "ab":  # the file DVC tracks is the merged section, every key present
        assert yaml.safe_load((repo / "data" / d / "params.yaml").read_text()) == effective[d]
    run_cmd(["git", "add", "-A"], repo, env)
    run_cmd(["git", "commit", "-q", "-m", "run"], repo, env)

    # A default: `a` takes it and reruns preprocess; `b` overrides the seed and reruns nothing.
    assert repro(lambda p: p["defaults"]["preprocess"].update(seed=2)) == {"preprocess@a"}
    assert _diff(repo, env) == {
        "params.yaml": {"defaults.preprocess.seed": (0, 2)},
        "data/a/params.yaml": {"preprocess.seed": (0, 2)},
    }
    shown = json.loads(run_cmd([*dvc, "exp", "show", "--json"], repo, env))
    rows = {r["rev"]: r["data"]["params"] for r in shown}
    for rev, seed in (("workspace", 2), (shown[1]["rev"], 0)):
        assert rows[rev]["params.yaml"]["data"]["defaults"]["preprocess"]["seed"] == seed
        assert rows[rev]["data/a/params.yaml"]["data"]["preprocess"]["seed"] == seed
        assert rows[rev]["data/b/params.yaml"]["data"]["preprocess"]["seed"] == 1

    # An override: only its own dataset's stage reruns.
    assert repro(lambda p: p["b"]["preprocess"].update(seed=3)) == {"preprocess@b"}
    diff = _diff(repo, env)
    assert diff["params.yaml"]["b.preprocess.seed"] == (1, 3)
    assert diff["data/b/params.yaml"] == {"preprocess.seed": (1, 3)}
    # Unchanged effective params (a key set to its default's value): nothing reruns.
    assert repro(lambda p: p["a"]["preprocess"].update(seed=2)) == set()
