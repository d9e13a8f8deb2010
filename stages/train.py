"""Stage `train`: fit the U-Net on data/<D>/prepared, keep the best-validation-IoU model.

Writes <out>/model.pt (state_dict + the config that builds it) and <out>/train.json, and the
dvclive curves under --live. An interrupted run resumes from <out>/../resume/last.pt, a working
file that is not a DVC output (DVC deletes outputs before it reruns a stage).

Under torchrun (``python -m seginterp.launch stages/train.py ...`` with
``scale.nproc_per_node > 1``) every rank trains with DDP; rank 0 alone writes the model,
train.json, the checkpoint and the dvclive output.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import click

from seginterp import distributed as dist
from seginterp.cli import input_dir
from seginterp.data import load_split
from seginterp.io import write_json
from seginterp.model import model_config_from_params, resolve_device
from seginterp.params import load_params, stage_section, to_dict
from seginterp.training import train, train_config_from_params


@click.command()
@click.option("--dataset", required=True, help="Dataset section of params.yaml.")
@input_dir("--prepared")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Model directory.")
@click.option("--live", type=click.Path(path_type=Path), required=True, help="dvclive directory.")
@click.option(
    "--resume-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the resumable checkpoint lives [default: <out>/../resume].",
)
@click.option("--params", "params_path", default="params.yaml", show_default=True)
def main(dataset: str, prepared: Path, out: Path, live: Path, resume_dir: Path | None,
         params_path: str) -> None:  # fmt: skip
    """Train the segmentation model for DATASET."""
    params = load_params(params_path)
    model_cfg = model_config_from_params(stage_section(params, dataset, "model"))
    cfg = train_config_from_params(stage_section(params, dataset, "train"))
    tr_x, tr_y, _ = load_split(prepared, "train")
    va_x, va_y, _ = load_split(prepared, "val")
    resume_dir = resume_dir or out.parent / "resume"
    with dist.process_group(resolve_device(cfg.device)):
        main_rank = dist.is_main()
        level = logging.INFO if main_rank else logging.WARNING
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
        if main_rank:
            out.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            on_epoch = None
            if main_rank:
                from dvclive import Live

                lv = stack.enter_context(
                    Live(dir=str(live), dvcyaml=None, save_dvc_exp=False, report=None)
                )

                def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
                    lv.step = epoch
                    for name, value in metrics.items():
                        lv.log_metric(name, value)
                    lv.next_step()

            result = train(
                model_cfg, cfg, (tr_x, tr_y), (va_x, va_y), model_path=out / "model.pt",
                checkpoint_path=resume_dir / "last.pt", on_epoch=on_epoch,
            )  # fmt: skip
            if main_rank:
                lv.summary["best/epoch"] = result.best_epoch
                lv.summary["best/val_iou"] = result.best_val_iou
    if not main_rank:
        return
    write_json(
        out / "train.json",
        {
            "best_epoch": result.best_epoch,
            "best_val_iou": result.best_val_iou,
            "epochs": cfg.epochs,
            "resumed_from_epoch": result.resumed_from,
            "n_train": len(tr_x),
            "n_val": len(va_x),
            "model": to_dict(model_cfg),
        },
    )
    click.echo(
        f"{dataset}: best val IoU {result.best_val_iou:.4f} at epoch {result.best_epoch} "
        f"({result.seconds:.1f} s)"
    )


if __name__ == "__main__":
    main()
