"""End to end: the check and every stage under a real, isolated `dvc repro` of one replicate, the
README's commands on the result, then `dvc exp run -S` adding a second replicate (only its stages
and the pool run)."""

from __future__ import annotations

import json
import math
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support import ROOT, make_repo, ran_stages, run_cmd, tiny_params, user_discs

DATASET_STAGES = ("check", "download", "preprocess")
REPLICATE_STAGES = ("train", "predict", "borders", "attribute", "evaluate")
STAGES = (
    *(f"{s}@synthetic" for s in DATASET_STAGES),
    *(f"{s}@synthetic-0" for s in REPLICATE_STAGES),
    "pool@synthetic",
)
REPLICATE_METRICS = {
    "segmentation.json": ("mIoU", "mDice", "n"),
    "borders.json": ("mean", "min", "max", "n_images", "n_without_border"),
}
METRICS = {
    "fragility.json": ("infidelity", "sensitivity", "n_images", "n_without_border"),
    "regions.json": ("model", "layer", "border_focus"),
    "sanity.json": ("methods",),
    "summary.json": ("test", "n", "claims", "skill"),
    "claims.json": ("dataset", "claims", "counts"),
    "methods.json": ("sigma",),
}
WIDTH = 200  # the verdict fits one screen: README's `dvc metrics show` / `dvc exp show` commands


def leaves(obj: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        return [x for k, v in obj.items() for x in leaves(v, f"{path}.{k}")]
    if isinstance(obj, list):
        return [x for i, v in enumerate(obj) for x in leaves(v, f"{path}[{i}]")]
    return [(path, obj)]


def readme_commands(prefix: str) -> list[str]:
    """The README's shell lines that start with ``prefix`` (comments stripped)."""
    text = (ROOT / "README.md").read_text()
    lines = [ln.split("  #", 1)[0].strip() for ln in text.splitlines()]
    return [ln for ln in lines if ln.startswith(prefix)]


def check_readme_commands(repo: Path, env: dict[str, str]) -> None:
    """The README's `dvc metrics show` / `dvc exp show` lines print what the README says: the
    verdict columns, within one screen's width."""
    cmds = readme_commands("dvc metrics show") + readme_commands("dvc exp show")
    assert len(cmds) >= 2, cmds
    for cmd in cmds:
        out = run_cmd([sys.executable, "-m", *shlex.split(cmd)], repo, env)
        width = max(len(line) for line in out.splitlines())
        assert width <= WIDTH, f"`{cmd}` prints {width} characters wide:\n{out}"
        for key in ("mDice", "held"):
            assert key in out, f"`{cmd}` does not show {key}:\n{out}"


@pytest.mark.slow
def test_whole_pipeline_metrics_plots_and_experiments(tiny_run) -> None:
    repo, env, out = tiny_run.repo, tiny_run.env, tiny_run.output
    dvc = [sys.executable, "-m", "dvc"]
    for stage in STAGES:
        assert f"Running stage '{stage}'" in out

    mdir = repo / "metrics" / "synthetic"
    rdir = mdir / "replicates" / "0"
    files = [(mdir / n, k) for n, k in METRICS.items()]
    files += [(rdir / n, k) for n, k in {**METRICS, **REPLICATE_METRICS}.items()]
    for path, keys in files:
        data = json.loads(path.read_text())
        name = path.relative_to(mdir).as_posix()
        assert set(keys) <= set(data), (name, set(keys) - set(data))
        numbers = [(p, v) for p, v in leaves(data) if isinstance(v, int | float)]
        assert numbers, name
        bad = [(p, v) for p, v in numbers if not math.isfinite(v)]
        assert not bad, (name, bad[:5])
    frag = json.loads((mdir / "fragility.json").read_text())
    table = frag["infidelity"]["sigma_0p03"]["unnormalized"]["model"]
    methods = set(tiny_params()["synthetic"]["attribute"]["methods"])
    assert {k.split("[")[0] for k in table} == methods
    assert {"infidelity", "zero_infidelity", "skill_ratio_of_means"} <= set(table["deeplift"])
    claims = json.loads((mdir / "claims.json").read_text())
    tallied = sum(claims["counts"].values()) + sum(claims["counts_beyond"].values())
    assert tallied == len(claims["claims"]) > 0
    assert claims["seeds"] == [0]
    assert "one model (training seed 0)" in (mdir / "claims.md").read_text()
    own = json.loads((rdir / "claims.json").read_text())
    assert [r["verdict"] for r in own["claims"]] == [r["verdict"] for r in claims["claims"]]

    figures = sorted((rdir / "plots" / "figures").glob("*.png"))
    assert {p.name for p in figures} == {"maps.png", "layers_gradcam.png", "layers_deeplift.png"}
    for png in figures:
        with Image.open(png) as im:
            im.verify()
            assert im.format == "PNG"

    shown = json.loads(run_cmd([*dvc, "metrics", "show", "--json"], repo, env))
    files = {Path(f).name for ws in shown.values() for f in ws.get("data", {})}
    assert files == {"summary.json"}  # only the compact file is a metric
    check_readme_commands(repo, env)
    plots = json.loads(run_cmd([*dvc, "plots", "show", "--json"], repo, env))
    assert not plots.get("errors"), plots.get("errors")
    plotted = " ".join(plots["data"])
    for needle in ("maps.png", "layer_infidelity/gradcam.csv", "layer_regions", "train/loss.tsv"):
        assert needle in plotted, needle
    layer_plot = json.dumps(plots["data"]["metrics/synthetic/plots/layer_infidelity/gradcam.csv"])
    assert "layer_index" in layer_plot and "skill" in layer_plot

    status = run_cmd([*dvc, "status"], repo, env)
    assert [s for s in STAGES if f"{s}:" in status] == ["check@synthetic"], status
    assert "always changed" in status
    run_cmd(["git", "add", "-A"], repo, env)
    run_cmd(["git", "commit", "-q", "-m", "baseline run"], repo, env)
    # a second replicate: only its own stages and the pool run; the pool judges both
    out = run_cmd([*dvc, "exp", "run", "-S", "replicates=[0,1]"], repo, env)
    assert sorted(ran_stages(out)) == sorted(
        ["pool@synthetic", *(f"{s}@synthetic-1" for s in REPLICATE_STAGES)]
    ), out[-3000:]
    pooled = json.loads((mdir / "claims.json").read_text())
    assert pooled["seeds"] == [0, 1]
    assert all([x["seed"] for x in r["replicates"]] == [0, 1] for r in pooled["claims"])
    assert "2 replicate models, training seeds 0, 1" in (mdir / "claims.md").read_text()
    summary = json.loads((mdir / "summary.json").read_text())
    assert summary["n"]["models"] == 2
    exps = json.loads(run_cmd([*dvc, "exp", "show", "--json"], repo, env))
    names = [e["name"] for rev in exps for e in (rev.get("experiments") or [])]
    assert len(names) == 1, exps
    seeds = [
        r["data"]["params"]["params.yaml"]["data"]["replicates"]
        for rev in exps
        for e in (rev.get("experiments") or [])
        for r in e["revs"]
    ]
    assert seeds == [[0, 1]]


@pytest.mark.slow
def test_another_architecture_is_one_param_of_an_experiment(tiny_run) -> None:
    """`dvc exp run -S synthetic.model.architecture=fpn` (in a temporary copy) runs every stage
    on an FPN: DeepLIFT, not exact through FPN's GroupNorm, is skipped and summary.json says
    why; every other method is scored. The comparison reads its row from `dvc exp show --json`."""
    from seginterp.report.architectures import PREFIX, render, rows_from_exp_show

    repo, env = tiny_run.repo, tiny_run.env
    dvc = [sys.executable, "-m", "dvc"]
    sets = [
        "++synthetic.model.architecture=fpn",
        "synthetic.model.decoder_channels=[32,32,8,4,4]",  # FPN: GroupNorm of 32 groups,
        "synthetic.preprocess.image_size=64",  # which needs > 1 px at the 1/32 level
        "synthetic.attribute.layers=all",
        "replicates=[0]",  # whatever an earlier test left in the workspace
    ]
    args = [*dvc, "exp", "run", "--temp", "--name", f"{PREFIX}fpn"]
    out = run_cmd([*args, *(a for s in sets for a in ("-S", s))], repo, env)
    for stage in STAGES[2:]:
        assert f"Running stage '{stage}'" in out, (stage, out[-2000:])
    assert "deeplift is skipped on model.architecture 'fpn'" in out, out[-2000:]
    doc = json.loads(run_cmd([*dvc, "exp", "show", "--json"], repo, env))
    (row,) = rows_from_exp_show(doc, "synthetic", {}, ["fpn"])
    assert row["architecture"] == "fpn" and row["experiment"] == f"{PREFIX}fpn"
    assert 0.0 <= row["test"]["mDice"] <= 1.0
    assert {"sal", "ig", "gbp", "ggc"} <= set(row["skill"]) and "dl" not in row["skill"]
    assert row["not_run"]["dl"].startswith("DeepLIFT cannot be exact on FPN: decoder.seg_blocks")
    assert sum(row["claims"].values()) > 0
    unet = {**row, "architecture": "unet", "skill": {**row["skill"], "dl": 0.5}, "not_run": {}}
    table = render([unet, row], "synthetic")
    assert "| `fpn` |" in table and "| not run |" in table, table
    assert "- `fpn`, dl not run: DeepLIFT cannot be exact on FPN" in table, table


def readme_section_script(heading: str) -> list[str]:
    """The shell lines of the README section ``## <heading>``: its ```bash blocks, one entry per
    command (continuation lines joined)."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert blocks, f"README: no ```bash block under '## {heading}'"
    joined = "\n".join(blocks).replace("\\\n", " ")
    return [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.startswith("#")]


@pytest.mark.slow
def test_readme_quick_start_and_own_images_lines_run(tmp_path: Path) -> None:
    """Every shell line of the README's *Quick start* and *Run it on your own images*, as a user
    would paste them, on the tiny config: `make repro` (the project's Makefile, the venv running
    this test; `make test` is left out: it is the suite this test belongs to), then the own-images
    `dvc exp run` on a folder of 24 small images laid out as the README says, then its
    `dvc metrics show`."""
    import copy
    import shutil

    params = tiny_params()
    folder = copy.deepcopy(params["synthetic"])
    folder["download"] = {"source": "folder", "path": None}
    params["folder"] = folder  # the tiny settings; the README's line sets datasets and the path
    repo, env = make_repo(tmp_path, params)
    shutil.copy(ROOT / "Makefile", repo / "Makefile")
    images = user_discs(tmp_path / "my_images")
    venv = Path(sys.executable).parent.parent
    # `make` as the README runs it, on this venv, which is installed already (its stamp target
    # is never remade; make would otherwise pip-install the tiny repo)
    prelude = f'make() {{ command make -o "{venv}/.installed" VENV="{venv}" "$@"; }}\n'

    quick = readme_section_script("Quick start")
    assert [c.split("  #")[0].strip() for c in quick] == ["make repro", "make test"], quick
    own = readme_section_script("Run it on your own images")
    assert any(c.startswith("dvc exp run -S 'datasets=[folder]'") for c in own), own
    assert any("/data/my_images" in c for c in own), own

    def bash(lines: list[str]) -> str:
        script = prelude + "set -euo pipefail\n" + "\n".join(lines) + "\n"
        return run_cmd(["bash", "-c", script], repo, env, timeout=1800)

    out = bash([c for c in quick if not c.startswith("make test")])
    for stage in STAGES:
        assert f"Running stage '{stage}'" in out, (stage, out[-2000:])
    run_cmd(["git", "add", "-A"], repo, env)
    run_cmd(["git", "commit", "-q", "-m", "quick start"], repo, env)

    out = bash([c.replace("/data/my_images", str(images)) for c in own])
    for stage in ("download", "preprocess"):
        assert f"Running stage '{stage}@folder'" in out, (stage, out[-2000:])
    for stage in REPLICATE_STAGES:
        assert f"Running stage '{stage}@folder-0'" in out, (stage, out[-2000:])
    assert "Running stage 'pool@folder'" in out, out[-2000:]
    assert "metrics/folder/summary.json" in out and "mDice" in out, out[-2000:]
    claims = json.loads((repo / "metrics" / "folder" / "claims.json").read_text())
    assert claims["dataset"] == "folder" and claims["claims"], claims
