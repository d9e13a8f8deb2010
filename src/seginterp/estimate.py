"""What each stage of a dataset will cost on this device, known before it is spent.

The check stage calls :func:`calibrate` (a random-weight model of the configured architecture at
``image_size``, on the device and threads the stages use: a few training steps, a batch of
forwards, and one explanation of a disc-shaped lesion with every configured map, its nonlinear
maps on one chunk of border pixels) and :func:`estimate` turns those seconds into each stage's
time from the image counts and the params (:data:`WARN_SECONDS`: the time above which
:func:`warnings` names the param to change). The parts of evaluate follow its metrics
(``seginterp.evaluate.metrics``; a test keeps the two lists equal):

- fragility: ``len(infidelity_sigma) × n_perturb_samples`` forwards per image;
- layer_fragility: the same per layer on ``layer_images`` images, each half a forward (the part of
  the network after the layer, on average);
- sensitivity: ``sensitivity_samples + 1`` explanations of ``sensitivity_max_images`` images;
- regions_null: one explanation by the randomized model of ``null_images`` images;
- regions_baseline: the reference-based model-level maps again, on ``null_images`` images;
- deletion: ``2 + 2 (deletion_steps − 1) (maps + 1)`` forwards of ``deletion_images`` images
  (the imputations left out);
- cascade: one explanation per block (the layers and the head) of ``cascade_images`` images;
- regions, localisation, complexity, sanity: no pass of the model (they read maps already made).

The calibration is measured once per machine and configuration: :func:`cached_calibration` keeps
it in :func:`cache_dir` under a key of everything it depends on (the model, the attribute
config, the batch sizes, ``image_size``, the threads, ``scale.numerics``, the device, the host, its
CPU and torch), so the check stage, which runs on every ``dvc repro``, times the model only when
one of them changed. Delete the file to measure again.

An explanation costs its one-pass maps plus one exact pass per chunk of ``chunk_size`` border
pixels for its nonlinear maps (``sample_k`` pixels when sampled; when exact, every border pixel:
the calibration disc's border, whose radius is a quarter of the side, stands for a smooth lesion;
an undertrained model's ragged border can be ten times longer).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import platform
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seginterp.core.determinism import cpu_threads, numerics
from seginterp.core.io import atomic_path
from seginterp.core.params import to_dict
from seginterp.data.prepare import PreprocessParams
from seginterp.data.splits import check_split_spec, split_targets
from seginterp.evaluate.config import EvaluateConfig
from seginterp.explain.borders import border_pixels
from seginterp.explain.config import AttributeConfig
from seginterp.explain.engine import Explainer
from seginterp.explain.registry import METHODS
from seginterp.model.net import ModelConfig, build_model, resolve_device
from seginterp.model.train_config import TrainConfig

log = logging.getLogger(__name__)

WARN_SECONDS = 30 * 60
"""A stage estimated above this per replicate gets a warning naming the param to change."""


@dataclass(frozen=True)
class Unit:
    """Seconds measured on this device for one image at ``image_size``.

    ``step``: a training step (forward, backward, Adam) per image; ``forward``: a forward per
    image in a batch; ``linear``: an explanation's one-pass maps; ``chunk``: its nonlinear maps
    over one chunk of ``chunk_size`` border pixels; ``reference``: the reference-based model-level
    maps (a completeness claim: DeepLIFT, IG), which regions_baseline makes again;
    ``border``: the calibration disc's border pixels; ``layers``: the explained layers.
    """

    device: str
    threads: int
    step: float
    forward: float
    linear: float
    chunk: float
    reference: float
    border: int
    layers: int


def _disc(size: int) -> tuple[torch.Tensor, np.ndarray]:
    """An image (1, 3, S, S) with a bright disc of radius S/4 and the disc's border (S, S)."""
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= (size / 4) ** 2
    rng = np.random.default_rng(0)
    image = rng.uniform(0.0, 0.4, (3, size, size)) + 0.5 * disc
    return torch.from_numpy(image.astype(np.float32))[None], border_pixels(disc)


def _seconds(fn: Any, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def calibrate(params: Mapping[str, Any], dataset: str) -> Unit:
    """Time the configured model's passes on this device (a few seconds on a CPU at 64 px), with
    the stages' thread count and ``scale.numerics`` kernels (both restored on return)."""
    before = torch.get_num_threads(), torch.backends.mkldnn.enabled
    threads = cpu_threads(params) or before[0]
    torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = numerics(params) != "portable"
    try:
        return _calibrate(params, dataset, threads)
    finally:
        torch.set_num_threads(before[0])
        torch.backends.mkldnn.enabled = before[1]


def _calibrate(params: Mapping[str, Any], dataset: str, threads: int) -> Unit:
    size = PreprocessParams.from_params(params, dataset).image_size
    mcfg = replace(ModelConfig.from_params(params, dataset), encoder_weights=None, pretrained=None)
    acfg = AttributeConfig.from_params(params, dataset)
    tcfg = TrainConfig.from_params(params, dataset)
    ecfg = EvaluateConfig.from_params(params, dataset)
    device = resolve_device(acfg.device)
    torch.manual_seed(0)
    model = build_model(mcfg).to(device)
    x, border = _disc(size)
    b = min(tcfg.batch_size, 4)
    batch = x.repeat(b, 1, 1, 1).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        opt.zero_grad()
        model(batch).mean().backward()
        opt.step()

    model.train()
    step()  # the first pass pays one-time set-up
    train = _seconds(step, device) / b
    model.eval()
    b = min(ecfg.batch_size, 8)
    with torch.no_grad():
        batch = x.repeat(b, 1, 1, 1).to(device)
        forward = _seconds(lambda: model(batch), device) / b
    k = min(acfg.chunk_size, int(border.sum()))
    ex = Explainer(model, replace(acfg, nonlinear_mode="sampled", sample_k=k), mean_rgb=[0.5] * 3)
    t0 = time.perf_counter()
    records = ex.explain(x, border)
    total = time.perf_counter() - t0
    nonlinear = max((r.seconds for r in records if r.mode != "one-pass"), default=0.0)
    reference = sum(
        r.seconds
        for r in records
        if r.layer is None and METHODS.get(r.method).completeness is not None
    )
    return Unit(
        device=str(device),
        threads=threads,
        step=train,
        forward=forward,
        linear=total - nonlinear,
        chunk=nonlinear,
        reference=reference,
        border=int(border.sum()),
        layers=len(ex.cfg.layers),
    )


def cache_dir() -> Path:
    """Where calibrations are kept: ``$SEGINTERP_CACHE_DIR``, else ``$XDG_CACHE_HOME/seginterp``,
    else ``~/.cache/seginterp``."""
    if os.environ.get("SEGINTERP_CACHE_DIR"):
        return Path(os.environ["SEGINTERP_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "seginterp"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def calibration_key(params: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """Everything :func:`calibrate` depends on: the configs it reads, the threads, the kernels,
    the device and the machine."""
    acfg = AttributeConfig.from_params(params, dataset)
    mcfg = replace(ModelConfig.from_params(params, dataset), encoder_weights=None, pretrained=None)
    device = resolve_device(acfg.device)
    return {
        "image_size": PreprocessParams.from_params(params, dataset).image_size,
        "model": to_dict(mcfg),
        "attribute": to_dict(acfg),
        "train_batch": TrainConfig.from_params(params, dataset).batch_size,
        "evaluate_batch": EvaluateConfig.from_params(params, dataset).batch_size,
        "threads": cpu_threads(params) or torch.get_num_threads(),
        "numerics": numerics(params),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "host": platform.node(),
        "cpu": _cpu_model(),
        "torch": torch.__version__,
    }


def cached_calibration(params: Mapping[str, Any], dataset: str) -> tuple[Unit, str]:
    """:func:`calibrate`, or the calibration kept for the same :func:`calibration_key`; and a
    line saying which (a cache file that cannot be read is logged and measured again)."""
    key = calibration_key(params, dataset)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / f"calibration-{digest}.json"
    if path.exists():
        try:
            kept = json.loads(path.read_text())
            if kept["key"] == key:
                return Unit(**kept["unit"]), (
                    f"  (calibration of {kept['measured']} from {path}; delete it to measure again)"
                )
            log.warning("%s holds another configuration's calibration: measuring again", path)
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("cannot read the calibration %s (%s): measuring again", path, err)
    unit = calibrate(params, dataset)
    measured = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"key": key, "unit": asdict(unit), "measured": measured}))
    return unit, f"  (calibration measured now, kept in {path})"


def split_counts(params: Mapping[str, Any], dataset: str, n_images: int | None) -> dict[str, int]:
    """Images per split: the counts of ``preprocess.split``, or its fractions of ``n_images``
    (None when they are fractions of an unknown number)."""
    spec = PreprocessParams.from_params(params, dataset).split
    if check_split_spec(spec) == "counts":
        return split_targets(spec, sum(int(v) for v in spec.values()))
    return {} if n_images is None else split_targets(spec, n_images)


def _explain(unit: Unit, acfg: AttributeConfig, pixels: int) -> float:
    return unit.linear + unit.chunk * math.ceil(pixels / acfg.chunk_size)


def estimate(
    params: Mapping[str, Any], dataset: str, unit: Unit, counts: Mapping[str, int]
) -> dict[str, dict[str, float]]:
    """Seconds per replicate of each stage that trains or explains, by part: ``{stage: {part:
    seconds}}`` (train: ``steps``, ``validation``; attribute: ``one-pass maps``, ``nonlinear maps``;
    evaluate: its metrics)."""
    acfg = AttributeConfig.from_params(params, dataset)
    ecfg = EvaluateConfig.from_params(params, dataset)
    epochs = TrainConfig.from_params(params, dataset).epochs
    n_test = counts["test"] if acfg.max_images is None else min(acfg.max_images, counts["test"])
    pixels = acfg.sample_k if acfg.nonlinear_mode == "sampled" else unit.border
    again = pixels if ecfg.recompute_max_pixels is None else min(pixels, ecfg.recompute_max_pixels)
    perturb = len(ecfg.infidelity_sigma) * ecfg.n_perturb_samples * unit.forward
    null = n_test if ecfg.null_images is None else min(ecfg.null_images, n_test)
    layer_images = n_test if ecfg.layer_images is None else min(ecfg.layer_images, n_test)
    deletion = n_test if ecfg.deletion_images is None else min(ecfg.deletion_images, n_test)
    orders = len(acfg.methods) + 1 + ecfg.deletion_layers * len(acfg.layer_methods) * unit.layers
    return {
        "train": {
            "steps": epochs * counts["train"] * unit.step,
            "validation": epochs * counts["val"] * unit.forward,
        },
        "attribute": {
            "one-pass maps": n_test * unit.linear,
            "nonlinear maps": n_test * (_explain(unit, acfg, pixels) - unit.linear),
        },
        "evaluate": {
            "fragility": n_test * perturb,
            "layer_fragility": layer_images * unit.layers * perturb / 2,
            "sensitivity": min(ecfg.sensitivity_max_images, n_test)
            * (ecfg.sensitivity_samples + 1)
            * _explain(unit, acfg, again),
            "regions_null": null * _explain(unit, acfg, again),
            "regions_baseline": null * unit.reference,
            "cascade": min(ecfg.cascade_images, n_test)
            * (unit.layers + 1)
            * _explain(unit, acfg, again),
            "deletion": deletion * (2 + 2 * (ecfg.deletion_steps - 1) * orders) * unit.forward,
            "regions": 0.0,
            "localisation": 0.0,
            "complexity": 0.0,
            "sanity": 0.0,
        },
    }


FIX = {
    "steps": "train.epochs (or a GPU)",
    "validation": "preprocess.split",
    "one-pass maps": "attribute.max_images (or fewer attribute.methods or layers)",
    "nonlinear maps": "attribute.nonlinear_mode: sampled (or a smaller attribute.sample_k)",
    "fragility": "evaluate.n_perturb_samples",
    "layer_fragility": "evaluate.layer_images",
    "sensitivity": "evaluate.sensitivity_max_images",
    "regions_null": "evaluate.null_images",
    "regions_baseline": "evaluate.null_images",
    "deletion": "evaluate.deletion_images (or fewer evaluate.deletion_steps)",
    "cascade": "evaluate.cascade_images",
}
"""The param that shortens each part."""


def _time(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def report(
    dataset: str, unit: Unit, counts: Mapping[str, int], est: Mapping[str, Mapping[str, float]],
    replicates: int,
) -> list[str]:  # fmt: skip
    """The lines the check stage prints: one per stage, then the total."""
    lines = [
        f"{dataset}: estimated time per replicate on {unit.device} ({unit.threads} threads), "
        f"{counts['train']}/{counts['val']}/{counts['test']} images:"
    ]
    for stage, parts in est.items():
        top = sorted((v, k) for k, v in parts.items() if v > 0)[::-1][:3]
        detail = ", ".join(f"{k} {_time(v)}" for v, k in top)
        lines.append(f"  {stage:<9} {_time(sum(parts.values())):>7}  ({detail})")
    total = replicates * sum(sum(p.values()) for p in est.values())
    lines.append(f"  all {replicates} replicate(s): about {_time(total)}")
    return lines


def warnings(dataset: str, est: Mapping[str, Mapping[str, float]]) -> list[str]:
    """One line per explaining stage (attribute, evaluate) above :data:`WARN_SECONDS` per
    replicate, naming the param of its costliest part."""
    out = []
    for stage in ("attribute", "evaluate"):
        parts = est[stage]
        if sum(parts.values()) > WARN_SECONDS:
            part = max(parts, key=parts.__getitem__)
            out.append(
                f"{dataset}: {stage} is estimated at {_time(sum(parts.values()))} per replicate "
                f"({part} {_time(parts[part])}); to shorten it set {dataset}.{FIX[part]}"
            )
    return out


def image_count(download: Any) -> int | None:
    """The number of images a parsed ``download`` config will give, where it is known before
    the download: a generated count, or the files in a folder's ``images/``."""
    n = getattr(download, "n_images", None)
    if n is not None:
        return int(n)
    images = Path(getattr(download, "path", None) or "/nonexistent") / "images"
    if not images.is_dir():
        return None
    return sum(1 for p in images.iterdir() if p.is_file() and not p.name.startswith("."))


def costs(params: Mapping[str, Any], dataset: str, download: Any) -> tuple[list[str], list[str]]:
    """The check stage's estimate of ``dataset``'s stages (:func:`report` lines) and its
    :func:`warnings`; one line saying why when the image count is not known yet."""
    counts = split_counts(params, dataset, image_count(download))
    if not counts:
        return [f"{dataset}: no time estimate (the image count is known after download)"], []
    unit, source = cached_calibration(params, dataset)
    est = estimate(params, dataset, unit, counts)
    replicates = len(params.get("replicates") or [0])
    return [*report(dataset, unit, counts, est, replicates), source], warnings(dataset, est)
