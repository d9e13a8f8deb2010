"""Peak memory of the attribute and evaluate stages against the number of test images (not a
test; prints a table, asserts nothing).

For each N (``--n``, default 20 and 100) it prepares a synthetic dataset with exactly N test
images (the synthetic source with ``n_images = train + val + N`` and a split given in image
counts), predicts it and finds the borders, then runs the attribute stage's library call
(:func:`seginterp.explain.run.attribute_dataset` + its table write) and the evaluate stage's
(:func:`seginterp.evaluate.run.evaluate_dataset` + its table and document writes) each in a
fresh subprocess, after ``make_deterministic`` as the stages do. Each child reports its own peak
RSS (``VmHWM`` of /proc/self/status, read when the call has returned) and its RSS just
before the call (imports, torch threads, nothing of the data yet). The table gives the peak, the
peak over that base, the ratio peak(N_max)/peak(N_min) and the increment per extra image.

The model is a resnet18 U-Net (params.yaml decoder) trained for a few Adam steps on the train
split (``--train-steps``; seeded): enough for predicted masks with a border on most images, far
from a trained model, which does not matter for memory. It is trained once and shared by all N.
The config is reduced so the whole bench runs in minutes on 2 loaded cores (every default
model and layer method, two layers, 32 px, fewer steps and samples; printed at the start).
Pages of the memory-mapped test arrays count in RSS once touched: N x S x S x 5 bytes.

Measured (2 loaded cores, 32 px): attribute 988.6 / 988.7 MiB at N = 20 / 100 (flat: one npz
written per image, only small table rows kept); evaluate 1048.6 / 1056.7 MiB, +0.1 MiB per
image: tracemalloc at the end of its scoring loop sees +45 KiB of Python objects per image, all
of them fragility and region row dicts (scoring.py, regions.py), no map or array.

Usage: python bench/memory.py [--n 20 100] [--image-size 32] [--work DIR] [--train-steps 30]
       (run from the repository root with PYTHONPATH=src)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

DATASET = "bench"
TRAIN, VAL = 8, 4  # images of the train and val splits (the model is trained on train only)


def bench_params(n_test: int, image_size: int) -> dict[str, Any]:
    """params.yaml of the reduced but real configuration with ``n_test`` test images."""
    return {
        "datasets": [DATASET],
        "scale": {"nproc_per_node": 1, "cpu_threads": 2},
        DATASET: {
            "download": {
                "source": "synthetic",
                "n_images": TRAIN + VAL + n_test,
                "size": image_size,
                "seed": 0,
            },
            "preprocess": {
                "image_size": image_size,
                "split": {"train": TRAIN, "val": VAL, "test": n_test},
                "seed": 0,
            },
            "model": {"encoder": "resnet18", "decoder_channels": [128, 64, 32, 16, 8]},
            "predict": {"threshold": 0.5, "batch_size": 16, "device": "cpu"},
            "attribute": {
                "methods": [
                    "saliency",
                    "integrated_gradients",
                    "deeplift",
                    "guided_backprop",
                    "guided_gradcam",
                ],
                "layer_methods": ["gradcam", "deeplift"],
                "layers": ["encoder4", "decoder5"],
                "guided_gradcam_layer": "decoder5",
                "ig_steps": 4,
                "nonlinear_mode": "sampled",
                "sample_k": 4,
                "chunk_size": 4,
                "seed": 0,
                "device": "cpu",
            },
            "evaluate": {
                "infidelity_sigma": [0.03],
                "n_perturb_samples": 4,
                "sensitivity_samples": 2,
                "sensitivity_max_images": 1,
                "recompute_max_pixels": 4,
                "batch_size": 4,
                "bootstrap": 50,
                "sanity_images": 2,
                "null_images": 2,
                "figure_images": 1,
                "seed": 0,
                "device": "cpu",
            },
        },
    }


def _paths(work: Path) -> dict[str, Path]:
    names = ("raw", "prepared", "model", "predictions", "borders", "attributions", "evaluation")
    paths = {k: work / k for k in names}
    paths["table"] = work / "attributions.parquet"
    paths["metrics"] = work / "metrics"
    paths["plots"] = work / "plots"
    return paths


def train_model(prepared: Path, out: Path, params: dict[str, Any], steps: int) -> None:
    """A briefly trained U-Net (seeded Adam steps on the train split) saved to ``out``."""
    import torch
    from toy import fit_briefly

    from seginterp.data.prepared import load_split
    from seginterp.model.net import ModelConfig, build_model, save_model, to_input

    torch.manual_seed(0)
    cfg = ModelConfig.from_params(params, DATASET)
    model = build_model(cfg)
    images, masks, _ = load_split(prepared, "train")
    x, y = to_input(images), torch.from_numpy(masks.astype("float32"))[:, None]
    fit_briefly(model, x, y, steps)
    save_model(out / "model.pt", model, cfg)


def prepare(work: Path, n_test: int, image_size: int, model: Path | None, steps: int) -> str:
    """Data, model, predictions and borders of one N under ``work``; a line about the borders."""
    from seginterp.core.determinism import make_deterministic
    from seginterp.data.prepare import PreprocessParams
    from seginterp.data.prepare import prepare as prepare_raw
    from seginterp.data.sources.registry import parse_download
    from seginterp.explain.borders import find_borders, write_borders
    from seginterp.model.predict import PredictConfig, predict_test
    from seginterp.model.predictions import read_table, write_predictions

    params = bench_params(n_test, image_size)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    make_deterministic(params)
    p = _paths(work)
    source, dl = parse_download(params[DATASET]["download"], f"{DATASET}.download")
    source.download(dl, p["raw"], where=f"{DATASET}.download", progress=False)
    prepare_raw(
        p["raw"], p["prepared"], source.scan, dl, PreprocessParams.from_params(params, DATASET)
    )
    p["model"].mkdir(exist_ok=True)
    if model is None:
        train_model(p["prepared"], p["model"], params, steps)
    else:
        (p["model"] / "model.pt").write_bytes(model.read_bytes())
    pred = predict_test(
        p["prepared"], p["model"] / "model.pt", PredictConfig.from_params(params, DATASET)
    )
    write_predictions(p["predictions"], pred.probs, pred.masks, pred.table)
    found = find_borders(pred.masks, read_table(p["predictions"], columns=["id", "index"]))
    write_borders(p["borders"], found)
    return f"N={n_test}: |B| mean {found.summary['mean']}, statuses {found.summary['by_status']}"


def _status_mib(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process in MiB (Linux).

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux keeps that high-water mark across
    ``execve``, so a child would report its parent's peak at the fork when that is larger.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(stage: str, work: Path) -> None:
    """Run one stage's library call on ``work`` and print its memory as one JSON line."""
    import logging

    import torch

    from seginterp.core.determinism import make_deterministic
    from seginterp.core.io import atomic_dir, write_json, write_parquet
    from seginterp.explain.config import AttributeConfig

    logging.basicConfig(level=logging.WARNING)
    params = yaml.safe_load((work / "params.yaml").read_text())
    make_deterministic(params)
    acfg = AttributeConfig.from_params(params, DATASET)
    p = _paths(work)
    base = _status_mib("VmRSS")
    t0 = time.perf_counter()
    if stage == "attribute":
        from seginterp.explain.run import attribute_dataset

        done = attribute_dataset(acfg, prepared=p["prepared"], model_dir=p["model"],
                                 predictions=p["predictions"], borders=p["borders"],
                                 out=p["attributions"], device=torch.device("cpu"),
                                 desc=f"attribute N={work.name}")  # fmt: skip
        assert done is not None  # one process: rank 0
        write_parquet(p["table"], done.table)
    else:
        from seginterp.evaluate.config import EvaluateConfig
        from seginterp.evaluate.inputs import EvaluateInputs
        from seginterp.evaluate.run import evaluate_dataset

        cfg = EvaluateConfig.from_params(params, DATASET)
        inputs = EvaluateInputs(p["prepared"], p["model"], p["predictions"], p["borders"],
                                p["attributions"], p["table"])  # fmt: skip
        result = evaluate_dataset(DATASET, inputs, cfg, acfg, out=p["evaluation"],
                                  plots_dir=p["plots"])  # fmt: skip
        assert result is not None
        with atomic_dir(p["evaluation"]) as tmp:
            for name, table in result.tables.items():
                write_parquet(tmp / f"{name}.parquet", table)
        for name, document in result.documents.items():
            write_json(p["metrics"] / f"{name}.json", document)
    peak = _status_mib("VmHWM")
    seconds = time.perf_counter() - t0
    print(json.dumps({"base_mib": base, "peak_mib": peak, "seconds": seconds}))


def measure(stage: str, work: Path) -> dict[str, float]:
    """Run :func:`child` in a fresh interpreter; its JSON line."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", stage, str(work)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if r.returncode != 0:
        raise SystemExit(f"{stage} on {work} failed:\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[20, 100], help="test image counts")
    ap.add_argument("--image-size", type=int, default=32, help="px (a multiple of 32)")
    ap.add_argument("--train-steps", type=int, default=30, help="Adam steps of the brief training")
    ap.add_argument("--work", type=Path, default=None, help="work directory (default: a temp dir)")
    ap.add_argument("--stages", nargs="+", default=["attribute", "evaluate"])
    ap.add_argument("--child", nargs=2, metavar=("STAGE", "WORK"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="seginterp-memory-")
        args.work = Path(tmp.name)
    sizes = sorted(set(args.n))
    cfg = bench_params(sizes[0], args.image_size)[DATASET]
    print(f"config (test split = N): {json.dumps({k: cfg[k] for k in ('attribute', 'evaluate')})}")
    print(f"image_size={args.image_size}  train/val={TRAIN}/{VAL}  train_steps={args.train_steps}")
    model = None
    results: dict[tuple[str, int], dict[str, float]] = {}
    for n in sizes:
        work = args.work / str(n)
        work.mkdir(parents=True, exist_ok=True)
        print(prepare(work, n, args.image_size, model, args.train_steps), flush=True)
        model = model or work / "model" / "model.pt"  # one model for every N
        for stage in args.stages:
            results[stage, n] = measure(stage, work)
            print(f"  {stage} N={n}: {json.dumps(results[stage, n])}", flush=True)
    lo, hi = sizes[0], sizes[-1]
    print(
        f"\n{'stage':10s} {'N':>5s} {'peak RSS MiB':>13s} {'base MiB':>9s} {'peak-base':>10s} "
        f"{'seconds':>8s}"
    )
    for stage in args.stages:
        for n in sizes:
            r = results[stage, n]
            print(
                f"{stage:10s} {n:5d} {r['peak_mib']:13.1f} {r['base_mib']:9.1f} "
                f"{r['peak_mib'] - r['base_mib']:10.1f} {r['seconds']:8.1f}"
            )
        if hi > lo:
            a, b = results[stage, lo], results[stage, hi]
            print(
                f"{stage:10s} peak({hi})/peak({lo}) = {b['peak_mib'] / a['peak_mib']:.3f}, "
                f"per extra image {(b['peak_mib'] - a['peak_mib']) / (hi - lo):+.2f} MiB"
            )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
