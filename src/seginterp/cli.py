"""The ``seginterp`` command: ``seginterp explain IMAGE... --model PATH --out DIR``.

Per image (and class), in ``DIR``: ``<stem>.npz`` with the pipeline's map keys
(:mod:`seginterp.explain.store`), ``<stem>.png`` the per-image figure, and ``<stem>.json``: the
model and class explained, border size, ``Δf`` and what each map's sum equals, each map's mode,
the refused methods and the seconds taken. ``<stem>`` is the image's file stem, with
``.class<K>`` appended for a model of several classes. Heavy imports wait until a command runs,
so ``--help`` answers at once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click


def _csv(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v for v in value.split(",") if v)


@click.group()
def main() -> None:
    """Explain segmentation models through the border pixels of their predicted segments."""


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--model",
    "model_path",
    required=True,
    type=click.Path(path_type=Path),
    help="seginterp model.pt, an smp save_pretrained directory, or a state_dict file.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output directory.")
@click.option("--architecture", help="For a state_dict: the smp architecture (unet, fpn, ...).")
@click.option("--encoder", help="For a state_dict: the smp encoder (resnet34, ...).")
@click.option(
    "--classes",
    type=int,
    default=1,
    show_default=True,
    help="For a state_dict: the model's output channels.",
)
@click.option(
    "--decoder-channels",
    help="For a state_dict: e.g. 256,128,64,32,16 [default: smp's for the architecture].",
)
@click.option(
    "--class",
    "klass",
    default="0",
    show_default=True,
    help="The class whose border is explained: an index, or 'all'.",
)
@click.option(
    "--multilabel",
    is_flag=True,
    help="Several classes are independent sigmoids (default: softmax, argmax mask).",
)
@click.option(
    "--threshold",
    type=float,
    default=0.5,
    show_default=True,
    help="Mask: sigmoid(logit) > threshold (one channel, or --multilabel).",
)
@click.option("--methods", help="Model-level methods, comma-separated [default: all].")
@click.option("--layer-methods", help="Layer methods, comma-separated [default: all].")
@click.option(
    "--layers",
    help="Layer names or module paths, comma-separated, or 'all' [default: all of an smp model's].",
)
@click.option(
    "--nonlinear-mode", type=click.Choice(["exact", "sampled"]), default="sampled",
    show_default=True, help="Guided methods: every border pixel, or a seeded sample.",
)  # fmt: skip
@click.option(
    "--sample-k", type=int, default=64,
    show_default=True, help="Border pixels of the sample (--nonlinear-mode sampled).",
)  # fmt: skip
@click.option(
    "--baseline", type=click.Choice(["zeros", "blur"]), default="zeros",
    show_default=True, help="DeepLIFT's and Integrated Gradients' reference input.",
)  # fmt: skip
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
def explain(images: tuple[Path, ...], model_path: Path, out: Path, architecture: str | None,
            encoder: str | None, classes: int, decoder_channels: str | None, klass: str,
            multilabel: bool, threshold: float, methods: str | None, layer_methods: str | None,
            layers: str | None, nonlinear_mode: str, sample_k: int, baseline: str,
            device: str) -> None:  # fmt: skip
    """Explain the predicted border of each IMAGE (PNG/JPEG, RGB) for the model."""
    from seginterp.explain.image import ExplainImageError, explain_image, read_rgb
    from seginterp.model.external import Build, read_model

    config: dict[str, Any] = {"nonlinear_mode": nonlinear_mode, "sample_k": sample_k,
                              "deeplift_baseline": baseline, "device": device}  # fmt: skip
    for key, value in (("methods", methods), ("layer_methods", layer_methods)):
        if value is not None:
            config[key] = _csv(value)
    if layers is not None:
        config["layers"] = "all" if layers == "all" else _csv(layers)
    if klass != "all" and not klass.isdigit():
        raise click.BadParameter(f"{klass!r}: a class index or 'all'", param_hint="--class")
    try:
        dc = None if decoder_channels is None else tuple(int(c) for c in _csv(decoder_channels))
        model = read_model(model_path, Build(architecture, encoder, classes, dc))
        pixels = {path: read_rgb(path) for path in images}
        n = _channels(model, next(iter(pixels.values())))
        wanted = range(n) if klass == "all" else [int(klass)]
        out.mkdir(parents=True, exist_ok=True)
        for path, image in pixels.items():
            for k in wanted:
                stem = path.stem if n == 1 else f"{path.stem}.class{k}"
                t0 = time.perf_counter()
                result = explain_image(model, image, target_class=k, multilabel=multilabel,
                                       threshold=threshold, **config)  # fmt: skip
                seconds = time.perf_counter() - t0
                result.save(out, stem, {"image": str(path), "model": str(model_path),
                                        "class": k, "seconds": round(seconds, 3)})  # fmt: skip
                n_border, n_maps = int(result.border.sum()), len(result.records)
                click.echo(f"{path}: class {k}, {n_border} border pixels, {n_maps} maps in "
                           f"{seconds:.1f} s -> {out / stem}.*")  # fmt: skip
    except (ExplainImageError, ValueError, OSError) as err:
        raise click.ClickException(" ".join(str(err).split())) from None


def _channels(model: Any, image: Any) -> int:
    """The model's output channel count, from one forward on ``image``."""
    import torch

    from seginterp.explain.image import ExplainImageError, as_input

    x = as_input(image)
    try:
        with torch.no_grad():
            return int(model.eval()(x).shape[1])
    except RuntimeError as e:
        raise ExplainImageError(f"the model cannot take a {tuple(x.shape)} input: {e}") from e
