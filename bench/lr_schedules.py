"""Learning-rate schedules × seeds on a dataset's prepared data: how steady is training?

For each schedule and seed, trains the dataset's model with its params.yaml train section (only
``lr_schedule`` and ``seed`` changed), then prints the validation IoU of every epoch, the kept
(best) epoch, the test mDice of the kept model (mean of per-image Dice, threshold 0.5), and per
schedule the mean ± sd of test mDice over seeds, the largest epoch-to-epoch drop of validation
IoU after epoch 5 and the sd of the last 4 validation IoUs. Needs ``data/<D>/prepared`` (run
``dvc repro -s preprocess@<D>`` first). One torch thread; about 2 min per run on 2 CPU cores for
the default synthetic config.

    python bench/lr_schedules.py --dataset synthetic --schedules none,plateau,cosine --seeds 0,1,2
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import tempfile
from pathlib import Path

import click
import torch

from seginterp.core.params import load_params
from seginterp.data.prepared import load_split
from seginterp.model.batches import evaluate
from seginterp.model.net import ModelConfig, load_model
from seginterp.model.train import TrainConfig, train


def _drop(val: list[float]) -> float:
    return max((a - b for a, b in itertools.pairwise(val[5:])), default=0.0)


@click.command()
@click.option("--dataset", default="synthetic", show_default=True)
@click.option("--schedules", default="none,plateau,cosine", show_default=True)
@click.option("--seeds", default="0,1,2", show_default=True)
@click.option("--params", "params_path", default="params.yaml", show_default=True)
def main(dataset: str, schedules: str, seeds: str, params_path: str) -> None:
    torch.set_num_threads(1)
    params = load_params(params_path)
    model_cfg = ModelConfig.from_params(params, dataset)
    base = TrainConfig.from_params(params, dataset)
    prepared = Path("data") / dataset / "prepared"
    tr, va, te = (load_split(prepared, s)[:2] for s in ("train", "val", "test"))
    results: dict[str, list[tuple[float, list[float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (int(s) for s in seeds.split(",")):
            for schedule in schedules.split(","):
                cfg = dataclasses.replace(base, lr_schedule=schedule, seed=seed, device="cpu")
                d = Path(tmp) / f"{schedule}_{seed}"
                res = train(model_cfg, cfg, tr, va, d / "model.pt", d / "last.pt", progress=False)
                net, _, _ = load_model(d / "model.pt")
                dice = evaluate(net, *te, 16, torch.device("cpu"), cfg.loss_weights)["dice"]
                val = [h["val/iou"] for h in res.history]
                results.setdefault(schedule, []).append((dice, val))
                curve = " ".join(f"{v:.3f}" for v in val)
                print(f"{schedule:8s} seed {seed}: kept epoch {res.best_epoch:3d}  test mDice "
                      f"{dice:.4f}  val IoU {curve}", flush=True)  # fmt: skip
    print(
        f"\n{'schedule':8s} {'n':>2s}  test mDice mean ± sd   max val-IoU drop   sd(last 4 val IoU)"
    )
    for schedule, runs in results.items():
        dice = [d for d, _ in runs]
        sd = statistics.stdev(dice) if len(dice) > 1 else float("nan")
        drop = statistics.mean(_drop(v) for _, v in runs)
        tail = statistics.mean(statistics.pstdev(v[-4:]) for _, v in runs)
        print(f"{schedule:8s} {len(runs):2d}  {statistics.mean(dice):.4f} ± {sd:.4f}"
              f"        {drop:.3f} (mean)        {tail:.3f} (mean)")  # fmt: skip


if __name__ == "__main__":
    main()
