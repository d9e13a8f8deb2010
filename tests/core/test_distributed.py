"""torchrun on CPU (gloo, 2 ranks): DDP training and resume, sharded attribute/evaluate equal to
one process, and the launcher. Each test starts `python -m torch.distributed.run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from support import ROOT

from seginterp.core import distributed as dist
from seginterp.core import launch

pytestmark = pytest.mark.usefixtures("one_thread")


def torchrun(args: list[str], cwd: Path, nproc: int = 2, timeout: float = 300) -> str:
    """Run ``torchrun --standalone --nproc_per_node=<nproc> <args>`` (``nproc`` 0: plain
    ``python <args>``, one process); fail with its output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env["TESTS_DIR"] = str(Path(__file__).parents[1] / "model")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd = [sys.executable] if nproc == 0 else [*cmd, f"--nproc_per_node={nproc}"]
    r = subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)  # fmt: skip
    out = r.stdout + r.stderr
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{out[-6000:]}")
    return out


TRAIN_WORKER = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    import torch
    sys.path.insert(0, os.environ["TESTS_DIR"])
    from test_train import TINY, blobs, cfg
    from seginterp.core import distributed as dist
    from seginterp.model.train import train

    torch.set_num_threads(1)
    out, stop = Path(sys.argv[1]), int(sys.argv[2])

    def on_epoch(epoch, metrics):
        if epoch == stop:
            raise KeyboardInterrupt

    def run(callback):
        return train(TINY, cfg(epochs=2), blobs(10, seed=1), blobs(4, seed=2), out / "model.pt",
                     out / "resume" / "last.pt", callback, False)

    with dist.process_group("cpu"):
        r = dist.rank()
        try:
            res = run(on_epoch)
        except KeyboardInterrupt:  # every rank stops after the same epoch, then resumes
            ck = out / "resume" / "last.pt"
            dist.barrier()
            has_model = (out / "model.pt").exists()
            print(f"rank {r} interrupted; checkpoint {ck.exists()} model {has_model}")
            res = run(None)
        (out / f"result.rank{r}.json").write_text(
            json.dumps({"history": res.history, "resumed_from": res.resumed_from,
                        "best_epoch": res.best_epoch, "world": dist.world_size()}))
    """
)


@pytest.mark.slow
def test_training_under_two_ranks_writes_one_model_and_resumes(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(TRAIN_WORKER)
    full, cut = tmp_path / "full", tmp_path / "cut"
    torchrun([str(script), str(full), "-1"], tmp_path)
    r0, r1 = (json.loads((full / f"result.rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world"] == 2 and r0 == r1  # same history and best epoch on both ranks
    assert len(r0["history"]) == 2 and r0["resumed_from"] is None
    assert sorted(p.name for p in full.iterdir() if p.suffix == ".pt") == ["model.pt"]
    assert (full / "resume" / "last.pt").exists()  # kept: a longer run continues from it

    out = torchrun([str(script), str(cut), "0"], tmp_path)  # every rank stops after epoch 1
    for r in (0, 1):
        assert f"rank {r} interrupted; checkpoint True model False" in out
    res = json.loads((cut / "result.rank0.json").read_text())
    assert res == json.loads((cut / "result.rank1.json").read_text())
    assert res["resumed_from"] == 1
    for a, b in zip(res["history"], r0["history"], strict=True):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    m_full = torch.load(full / "model.pt", weights_only=True)
    m_cut = torch.load(cut / "model.pt", weights_only=True)
    for k, v in m_full["state_dict"].items():
        torch.testing.assert_close(m_cut["state_dict"][k], v, rtol=1e-4, atol=1e-5, msg=k)


def test_helpers_outside_torchrun(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert dist.launched() == dist.Launch(0, 1, 0)
    with dist.process_group("cpu") as ln:
        assert ln.world_size == 1 and dist.is_main() and dist.world_size() == 1
        assert dist.broadcast({"a": 1}) == {"a": 1} and dist.all_sum([1, 2.5]) == [1.0, 2.5]
    assert list(dist.shard(7, 1, 3)) == [1, 4] and list(dist.shard(3)) == [0, 1, 2]
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="RANK=2"):
        dist.launched()


def _stage_inputs(tmp: Path, n: int = 5, size: int = 32) -> tuple[list[str], Path]:
    """Prepared data, a tiny model, predictions (image 1 without a border), borders and params
    for the attribute and evaluate stages; returns (common CLI args, tmp)."""
    from seginterp.explain.borders import find_borders, write_borders
    from seginterp.model.metrics import iou_dice_np
    from seginterp.model.net import ModelConfig, build_model, save_model

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    centres = (12, 16, 20, 14, 18)[:n]
    truths = np.stack([((yy - 16) ** 2 + (xx - c) ** 2 < 36).astype(np.uint8) for c in centres])
    images = (rng.uniform(0, 60, (n, size, size, 3)) + truths[..., None] * 150).astype(np.uint8)
    preds = truths.copy()
    preds[1] = 0
    ids = [f"im{i}" for i in range(n)]
    prep, pr, bd, md = (tmp / d for d in ("prepared", "predictions", "borders", "model"))
    for d in (prep, pr, bd, md):
        d.mkdir()
    np.save(prep / "test_images.npy", images)
    np.save(prep / "test_masks.npy", truths)
    (prep / "meta.json").write_text(json.dumps({"mean_rgb": [0.3, 0.3, 0.3]}))
    mcfg = ModelConfig(encoder="resnet18", decoder_channels=(8, 8, 4, 4, 4))
    torch.manual_seed(0)
    save_model(md / "model.pt", build_model(mcfg).eval(), mcfg)
    np.save(pr / "masks.npy", preds)
    iou, dice = iou_dice_np(preds, truths)
    pd.DataFrame({"id": ids, "index": range(n), "iou": iou, "dice": dice}).to_parquet(
        pr / "per_image.parquet"
    )
    write_borders(bd, find_borders(preds, pd.DataFrame({"id": ids, "index": range(n)})))
    section = {
        "attribute": {
            "methods": ["saliency", "deeplift", "guided_backprop"],
            "layer_methods": ["gradcam"],
            "layers": ["bottleneck", "decoder5"],
            "guided_gradcam_layer": "decoder5",
            "nonlinear_mode": "sampled",
            "sample_k": 6,
            "device": "cpu",
        },
        "evaluate": {
            "infidelity_sigma": [0.03],
            "n_perturb_samples": 8,
            "sensitivity_max_images": 1,
            "sensitivity_samples": 2,
            "sanity_images": 1,
            "figure_images": 1,
            "bootstrap": 20,
            "recompute_max_pixels": 4,
            "device": "cpu",
        },
    }
    scale = {"cpu_threads": 1}  # bytes are defined for one thread count (core/determinism)
    params = {"datasets": ["t"], "t": section, "scale": scale}
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    common = ["--dataset", "t", "--prepared", str(prep), "--model", str(md)]
    common += ["--predictions", str(pr), "--borders", str(bd), "--params", str(tmp / "params.yaml")]
    return common, tmp


def _run_stages(common: list[str], out: Path, nproc: int) -> None:
    """attribute then evaluate into ``out``: one plain process (nproc 1) or under torchrun."""
    attr, table = out / "attr", out / "attributions.parquet"
    a_args = [*common, "--out", str(attr), "--table", str(table)]
    e_args = [*common, "--attributions", str(attr), "--table", str(table)]
    e_args += ["--out", str(out / "eval"), "--metrics-dir", str(out / "metrics")]
    e_args += ["--plots-dir", str(out / "metrics" / "plots")]
    for stage, args in (("attribute", a_args), ("evaluate", e_args)):
        torchrun([str(ROOT / "stages" / f"{stage}.py"), *args], out, 0 if nproc == 1 else nproc)


@pytest.mark.slow
def test_attribute_and_evaluate_under_two_ranks_equal_one_process(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the run logs go to ./logs
    common, _ = _stage_inputs(tmp_path)
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    _run_stages(common, one, 1)
    _run_stages(common, two, 2)

    names = sorted(p.name for p in (one / "attr").iterdir())
    assert names == [f"im{i}.npz" for i in range(5)]
    assert sorted(p.name for p in (two / "attr").iterdir()) == names  # no _parts left
    for name in names:
        with np.load(one / "attr" / name) as a, np.load(two / "attr" / name) as b:
            assert sorted(a.files) == sorted(b.files)
            for k in a.files:
                if a[k].dtype.kind in "fc":
                    np.testing.assert_allclose(b[k], a[k], rtol=1e-5, atol=1e-6, err_msg=k)
                else:
                    np.testing.assert_array_equal(b[k], a[k], err_msg=k)
    tables = [("attributions.parquet",)] + [
        ("eval", f"{t}.parquet") for t in ("fragility", "sensitivity", "regions", "sanity")
    ]
    for parts in tables:
        a, b = (pd.read_parquet(d.joinpath(*parts)) for d in (one, two))
        pd.testing.assert_frame_equal(b, a, rtol=1e-5, atol=1e-6, obj=str(parts))
    for name in ("fragility.json", "regions.json", "sanity.json"):
        a, b = (json.loads((d / "metrics" / name).read_text()) for d in (one, two))
        assert _close(b, a), name
    assert not list(two.glob(".*_parts"))


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_close, a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-5, abs=1e-6)
    return a == b


def test_launch_command(tmp_path, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    py = sys.executable
    assert launch.command("s.py", ["--a", "1"], 1) == [py, "s.py", "--a", "1"]
    assert launch.command("s.py", ["--a"], 4) == [
        py, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4", "s.py", "--a",
    ]  # fmt: skip
    multi = ["--nnodes=2", "--rdzv-backend=c10d", "--rdzv-endpoint=h:29400"]
    assert launch.command("s.py", [], 8, multi) == [
        py, "-m", "torch.distributed.run", "--nproc-per-node=8", *multi, "s.py",
    ]  # fmt: skip
    params = tmp_path / "params.yaml"
    stage_args = ["--dataset", "t", "--params", "p.yaml", "--nproc-per-node", "3"]
    argv, mode = launch.parse(["--params", str(params), "st.py", *stage_args])
    assert argv == [py, "st.py", *stage_args]  # stage options pass through untouched
    assert mode == "portable"  # scale.numerics' default
    assert launch.nproc_from_params(params) == 1  # no file
    params.write_text("datasets: [a]\n")
    assert launch.nproc_from_params(params) == 1  # no key
    params.write_text("scale:\n  nproc_per_node: 3\n  numerics: native\n")
    assert launch.nproc_from_params(params) == 3
    assert launch.parse(["--params", str(params), "st.py"])[1] == "native"
    for bad in ("0", "two", "true"):
        params.write_text(f"scale:\n  nproc_per_node: {bad}\n")
        with pytest.raises(launch.LaunchError, match="nproc_per_node"):
            launch.nproc_from_params(params)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert launch.command("s.py", [], 2) == [py, "s.py"]  # already under torchrun: no nesting


@pytest.mark.slow
def test_launch_runs_one_or_n_processes(tmp_path):
    script = tmp_path / "who.py"
    script.write_text(
        "import os, sys\n"
        "line = ' '.join(['rank', os.environ.get('RANK', '-'), 'of',"
        " os.environ.get('WORLD_SIZE', '-'), 'args', *sys.argv[1:]])\n"
        # one write per process: two ranks share the pipe, and print() writes piece by piece
        "os.write(1, (line + '\\n').encode())\n"
    )
    (tmp_path / "params.yaml").write_text("scale:\n  nproc_per_node: 2\n")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    env["OMP_NUM_THREADS"] = "1"
    env.pop(launch.EXTRA_ENV, None)

    def run(*args: str) -> str:
        r = subprocess.run(
            [sys.executable, "-m", "seginterp.core.launch", *args, str(script), "--x", "y"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    assert run("--nproc-per-node", "1").split("\n")[0] == "rank - of - args --x y"
    out = run()  # scale.nproc_per_node of ./params.yaml
    assert sorted(line for line in out.splitlines() if line.startswith("rank")) == [
        "rank 0 of 2 args --x y",
        "rank 1 of 2 args --x y",
    ]
