"""Training throughput: our loop (seginterp.model.train.train) vs a bare PyTorch loop.

Same model, batch size, input size and number of optimizer steps; no augmentation; data in
memory. Ours includes what a real epoch does (DataLoader, per-batch metrics, validation on a
small split, the resumable checkpoint every ``--checkpoint-every`` epochs and after the last).
Both run ``--repeats`` times, interleaved (bare, ours, bare, ours, ...), each after one untimed
warm-up step, and the best of each is compared, so that a load change on a shared machine does
not favour whichever ran first. A breakdown of one more run of ours shows where the time goes,
and a second ratio, from the median step times of both loops plus ours' time outside its steps,
holds up better when the machine's load changes within a run.

    python bench/train_throughput.py --size 96 --n-train 256 --epochs 2
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import numpy as np
import torch

from seginterp.model import epoch as epoch_loop
from seginterp.model import train as training
from seginterp.model.augment import AugmentConfig
from seginterp.model.losses import LossWeights, segmentation_loss
from seginterp.model.net import ModelConfig, build_model, to_input
from seginterp.model.train import TrainConfig, seed_everything, train


def bare_loop(
    model_cfg: ModelConfig,
    x: torch.Tensor,
    y: torch.Tensor,
    bs: int,
    epochs: int,
    step_times: list[float],
) -> float:
    seed_everything(0)
    model = build_model(model_cfg).train()
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    n = len(x)
    segmentation_loss(model(x[:bs]), y[:bs], LossWeights())[0].backward()  # warm-up
    opt.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n)
        for s in range(0, n, bs):
            idx = perm[s : s + bs]
            t_step = time.perf_counter()
            loss, _ = segmentation_loss(model(x[idx]), y[idx], LossWeights())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step_times.append(time.perf_counter() - t_step)
    return epochs * n / (time.perf_counter() - t0)


class _Timed:
    """An iterable that adds the time spent in ``next`` (DataLoader: fetch, collate) to a sum."""

    def __init__(self, inner: Any, sums: dict[str, float]) -> None:
        self.inner, self.sums = inner, sums

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[Any]:
        it = iter(self.inner)
        while True:
            t0 = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                self.sums["data (DataLoader next)"] += time.perf_counter() - t0
                return
            self.sums["data (DataLoader next)"] += time.perf_counter() - t0
            yield item


@contextlib.contextmanager
def breakdown(sums: dict[str, float], step_times: list[float]) -> Iterator[None]:
    """Time the parts of ``train``: each wrapped function's seconds are added to ``sums``, and
    each optimizer step's seconds appended to ``step_times``."""
    names = {  # each name is patched in the module that calls it
        (training, "_setup"): "setup (model, optimizer, fingerprint)",
        (training, "_resume"): "resume check",
        (training, "prepare_data"): "prepare data",
        (epoch_loop, "_step"): "optimizer steps (forward, loss, backward, step)",
        (epoch_loop, "iou_dice"): "per-batch train metrics",
        (training, "validate"): "validation",
        (training, "_end_epoch"): "end of epoch (best copy, schedule, checkpoint)",
        (training, "write_checkpoint"): "  of which checkpoint write",
        (training, "_save_best"): "save model",
    }
    loaders = [(epoch_loop, n) for n in ("_epoch_loader", "_run_loader") if hasattr(epoch_loop, n)]
    saved: dict[tuple[ModuleType, str], Callable[..., Any]] = {}

    def wrap(module: ModuleType, name: str, label: str) -> None:
        fn = saved[module, name] = getattr(module, name)

        def timed(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                sums[label] += time.perf_counter() - t0
                if name == "_step":
                    step_times.append(time.perf_counter() - t0)

        setattr(module, name, timed)

    for (module, name), label in names.items():
        if hasattr(module, name):
            wrap(module, name, label)
    for module, name in loaders:
        fn = saved[module, name] = getattr(module, name)
        setattr(module, name, lambda *a, _fn=fn, **k: _Timed(_fn(*a, **k), sums))
    try:
        yield
    finally:
        for (module, name), fn in saved.items():
            setattr(module, name, fn)


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


@click.command()
@click.option("--size", default=96, show_default=True, help="Input side in px.")
@click.option("--n-train", default=256, show_default=True)
@click.option("--n-val", default=8, show_default=True)
@click.option("--batch-size", default=8, show_default=True)
@click.option("--epochs", default=2, show_default=True)
@click.option("--encoder", default="resnet18", show_default=True)
@click.option("--repeats", default=2, show_default=True, help="Interleaved runs of each loop.")
@click.option("--num-workers", default="auto", show_default=True, help="train.num_workers")
@click.option(
    "--checkpoint-every", default=4, show_default=True, help="train.checkpoint_every (synthetic)"
)
def main(
    size: int,
    n_train: int,
    n_val: int,
    batch_size: int,
    epochs: int,
    encoder: str,
    repeats: int,
    num_workers: str,
    checkpoint_every: int,
) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_train + n_val, size, size, 3), dtype=np.uint8)
    masks = (rng.random((n_train + n_val, size, size)) > 0.5).astype(np.uint8)
    model_cfg = ModelConfig(encoder=encoder)
    workers = "auto" if num_workers == "auto" else int(num_workers)
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        augment=AugmentConfig(p=0.0),
        device="cpu",
        num_workers=workers,
        checkpoint_every=checkpoint_every,
    )
    x = to_input(images[:n_train])
    y = torch.from_numpy(masks[:n_train]).unsqueeze(1).float()
    tr, va = (images[:n_train], masks[:n_train]), (images[n_train:], masks[n_train:])
    bare_runs, our_runs = [], []
    bare_steps: list[float] = []
    our_steps: list[float] = []
    for _ in range(repeats):
        bare_runs.append(bare_loop(model_cfg, x, y, batch_size, epochs, bare_steps))
        with tempfile.TemporaryDirectory() as d:
            train(model_cfg, cfg, tr, va, Path(d) / "w.pt", Path(d) / "w_last.pt", progress=False)
            t0 = time.perf_counter()
            train(model_cfg, cfg, tr, va, Path(d) / "m.pt", Path(d) / "last.pt", progress=False)
            our_runs.append(epochs * n_train / (time.perf_counter() - t0))
    sums: dict[str, float] = defaultdict(float)
    with tempfile.TemporaryDirectory() as d, breakdown(sums, our_steps):
        t0 = time.perf_counter()
        train(model_cfg, cfg, tr, va, Path(d) / "m.pt", Path(d) / "last.pt", progress=False)
        total = time.perf_counter() - t0
    bare, ours = max(bare_runs), max(our_runs)
    click.echo(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {encoder} @ {size}px, "
        f"{cfg.workers} workers, checkpoint every {checkpoint_every} epochs of {epochs}"
    )
    click.echo(f"bare PyTorch loop : {bare:8.2f} images/s  (runs: {_fmt(bare_runs)})")
    click.echo(f"seginterp train() : {ours:8.2f} images/s  (runs: {_fmt(our_runs)})")
    click.echo(f"ratio ours/bare   : {ours / bare:8.3f}  (target >= 0.9)")
    click.echo(
        f"breakdown of one more train() ({total:.2f} s; bare would take "
        f"{epochs * n_train / bare:.2f} s):"
    )
    for label, sec in sums.items():
        click.echo(f"  {label:48s} {sec:7.3f} s  {100 * sec / total:5.1f} %")
    rest = total - sum(v for k, v in sums.items() if not k.startswith(" "))
    click.echo(
        f"  {'other (loop, tqdm, .item(), logging)':48s} {rest:7.3f} s  {100 * rest / total:5.1f} %"
    )
    # Robust to load spikes: medians of the step times, plus ours' time outside the steps.
    n_steps = len(our_steps)
    med_bare, med_ours = statistics.median(bare_steps), statistics.median(our_steps)
    outside = total - sum(our_steps)
    robust = n_steps * med_bare / (n_steps * med_ours + outside)
    click.echo(
        f"median step: bare {med_bare:.3f} s, ours {med_ours:.3f} s; ours outside the steps "
        f"{outside:.2f} s of {total:.2f} s"
    )
    click.echo(
        f"ratio from medians: {n_steps} x {med_bare:.3f} / ({n_steps} x {med_ours:.3f} + "
        f"{outside:.2f}) = {robust:.3f}  (target >= 0.9)"
    )


if __name__ == "__main__":
    main()
