"""Stage `train`: fit the U-Net on data/<D>/prepared, keep the best-validation-IoU model.

Writes <out>/model.pt (state_dict + the config that builds it) and <out>/train.json, and the
dvclive curves under --live; the run's duration and resume point go to logs/<D>/train.json (not
an output). An interrupted run resumes from <out>/../resume/last.pt, a working file that is not
a DVC output (DVC deletes outputs before it reruns a stage).

Under torchrun (``python -m seginterp.core.launch stages/train.py ...`` with
``scale.nproc_per_node > 1``) every rank trains with DDP; rank 0 alone writes the model,
train.json, the checkpoint and the dvclive output.
"""

from __future__ import annotations

from pathlib import Path

import click

from seginterp.core.cli import input_dir


@click.command()
@click.option("--dataset", required=True, help="Dataset section of params.yaml.")
@input_dir("--prepared", help="Prepared data folder (the preprocess stage's output).")
@click.option("--seed", type=int, default=None,
              help="Training seed of the replicate (default 0); names its run log.")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Model directory.")
@click.option("--live", type=click.Path(path_type=Path), required=True, help="dvclive directory.")
@click.option(
    "--resume-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the resumable checkpoint lives [default: <out>/../resume].",
)
@click.option(
    "--params", "params_path", default="params.yaml", show_default=True, help="The params file."
)
def main(dataset: str, prepared: Path, seed: int | None, out: Path, live: Path,
         resume_dir: Path | None, params_path: str) -> None:  # fmt: skip
    """Train the segmentation model for DATASET."""
    import dataclasses

    from seginterp.core.determinism import make_deterministic
    from seginterp.core.params import load_params

    params = load_params(params_path)
    make_deterministic(params)  # first: before NumPy, SciPy and torch start
    from seginterp.core.io import write_json
    from seginterp.core.runlog import write_runlog
    from seginterp.model.fit import fit
    from seginterp.model.net import ModelConfig
    from seginterp.model.train import TrainConfig

    model_cfg = ModelConfig.from_params(params, dataset)
    cfg = TrainConfig.from_params(params, dataset)
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=seed)
    done = fit(model_cfg, cfg, prepared, out, live, resume_dir or out.parent / "resume")
    if done is None:  # not rank 0
        return
    result, summary = done
    write_json(out / "train.json", summary)
    facts = {"seconds": result.seconds, "resumed_from_epoch": result.resumed_from}
    write_runlog(dataset, "train", facts, seed=seed)
    click.echo(
        f"{dataset}: best val IoU {result.best_val_iou:.4f} at epoch {result.best_epoch} "
        f"({result.seconds:.1f} s)"
    )


if __name__ == "__main__":
    main()
