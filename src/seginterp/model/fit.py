"""The train stage's work: train on a prepared directory, log the curves with dvclive.

Under torchrun every rank trains (DDP); rank 0 alone writes the model, the checkpoint and the
dvclive output.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from seginterp.core import distributed as dist
from seginterp.data.prepared import load_split
from seginterp.model.external import import_pretrained
from seginterp.model.net import ModelConfig, resolve_device
from seginterp.model.train import EpochCallback, TrainConfig, TrainResult, train


def _live_logger(stack: contextlib.ExitStack, live_dir: Path) -> tuple[Any, EpochCallback]:
    """A dvclive ``Live`` (closed with ``stack``) and a callback logging each epoch's metrics.

    The step of an epoch is its 1-based number, the numbering of ``best_epoch`` in train.json.
    """
    from dvclive import Live

    live = stack.enter_context(
        Live(dir=str(live_dir), dvcyaml=None, save_dvc_exp=False, report=None)
    )

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        live.step = epoch + 1
        for name, value in metrics.items():
            live.log_metric(name, value)
        live.next_step()

    return live, on_epoch


def kept_summary(result: TrainResult) -> dict[str, Any]:
    """dvclive's summary (``dvclive/<D>/metrics.json``): the metrics of the kept epoch, not of the
    last one, nested as dvclive nests them (``val/iou`` -> ``{"val": {"iou": ...}}``), with
    ``step`` = ``kept_epoch`` = the 1-based epoch whose weights are the model."""
    summary: dict[str, Any] = {}
    for name, value in result.history[result.best_epoch - 1].items():
        *parents, leaf = name.split("/")
        node = summary
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    summary["kept_epoch"] = result.best_epoch
    summary["epochs_run"] = sum("train/loss" in h for h in result.history)
    summary["step"] = result.best_epoch
    return summary


def fit(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    prepared_dir: Path,
    out_dir: Path,
    live_dir: Path,
    resume_dir: Path,
) -> tuple[TrainResult, dict[str, Any]] | None:
    """Train on the train/val splits of ``prepared_dir``; the model goes to ``out_dir/model.pt``.

    The resumable checkpoint is ``resume_dir/last.pt``. Returns (result, the content of
    train.json) on rank 0 and None on the other ranks. train.json holds only what the params and
    data determine; the run's own facts (seconds, resume point) are ``result``'s, for the run log.
    """
    tr_x, tr_y, _ = load_split(prepared_dir, "train")
    va_x, va_y, _ = load_split(prepared_dir, "val")
    init = None if model_cfg.pretrained is None else import_pretrained(model_cfg, tr_x.shape[1])
    with dist.process_group(resolve_device(cfg.device)):
        main_rank = dist.is_main()
        level = logging.INFO if main_rank else logging.WARNING
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
        if main_rank:
            out_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            live, on_epoch = _live_logger(stack, live_dir) if main_rank else (None, None)
            result = train(
                model_cfg, cfg, (tr_x, tr_y), (va_x, va_y), model_path=out_dir / "model.pt",
                checkpoint_path=resume_dir / "last.pt", on_epoch=on_epoch, init=init,
            )  # fmt: skip
            if live is not None:
                live.summary = kept_summary(result)
    if not main_rank:
        return None
    summary = {
        "best_epoch": result.best_epoch,
        "best_val_iou": result.best_val_iou,
        "epochs": cfg.epochs,
        "n_train": len(tr_x),
        "n_val": len(va_x),
        "model": model_cfg.build_dict(),
    }
    if init is not None:
        summary["pretrained"] = {"path": model_cfg.pretrained, "sha256": init[1]}
    return result, summary
