"""Every param of a dataset checked before any stage computes (the ``check`` stage).

Each stage reads its own section of ``params[D]`` through its config class; this module builds
all of them at once, plus the checks that span sections (the encoder exists in smp and has a
layer table; the architecture builds with it for ``preprocess.image_size`` inputs, on the meta
device, so in about a second and without memory; ``attribute.layers`` and
``guided_gradcam_layer`` exist in that model; ``scale``: the process count, the threads, and
``numerics: portable`` on a CPU that can run it), and returns one line
per problem (a configured method the model cannot run, such as DeepLIFT on FPN, is a logged
warning, not a problem: it is skipped, see :func:`seginterp.explain.config.runnable_methods`), e.g.
``synthetic.train: epochs must be >= 1, got -1``. The ``check`` stage runs first in dvc.yaml
and every other stage's params are tracked in its output (``data/<D>/params.yaml``), so a typo in
``evaluate`` stops the pipeline before training starts, not after.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seginterp.core.determinism import check_portable, cpu_threads, numerics
from seginterp.core.launch import check_nproc
from seginterp.core.params import NOT_DATASETS, replicate_seeds, stage_section
from seginterp.data.prepare import PreprocessParams
from seginterp.data.sources.registry import parse_download
from seginterp.evaluate.config import EvaluateConfig
from seginterp.explain.config import AttributeConfig
from seginterp.model.net import ModelConfig, check_model
from seginterp.model.predict import PredictConfig
from seginterp.model.train_config import TrainConfig

log = logging.getLogger(__name__)

SECTIONS: tuple[str, ...] = (
    "download",
    "preprocess",
    "model",
    "train",
    "predict",
    "attribute",
    "evaluate",
)


def _one_line(dataset: str, section: str, err: Exception) -> str:
    """``<dataset>.<section>: <message>``, without repeating a prefix the message has."""
    msg = " ".join(str(err).split())
    for prefix in (f"{dataset}.{section}", f"{section}"):
        if msg.startswith(prefix) and msg[len(prefix) : len(prefix) + 1] in (".", ":", " "):
            rest = msg[len(prefix) :].lstrip(":").strip()
            return f"{dataset}.{section}{'' if rest.startswith('.') else ': '}{rest}"
    return f"{dataset}.{section}: {msg}"


def _builders(params: Mapping[str, Any], dataset: str) -> dict[str, Callable[[], Any]]:
    return {
        "download": lambda: parse_download(
            stage_section(params, dataset, "download"), f"{dataset}.download"
        ),
        "preprocess": lambda: PreprocessParams.from_params(params, dataset),
        "model": lambda: ModelConfig.from_params(params, dataset),
        "train": lambda: TrainConfig.from_params(params, dataset),
        "predict": lambda: PredictConfig.from_params(params, dataset),
        "attribute": lambda: AttributeConfig.from_params(params, dataset),
        "evaluate": lambda: EvaluateConfig.from_params(params, dataset),
    }


def _check_model(cfg: ModelConfig, image_size: int | None) -> nn.Module | None:
    """The encoder is one of smp's and its family has a layer table (listing the valid ones);
    the architecture builds with it and gives (1, 1, S, S) logits for S px inputs (meta model)."""
    from seginterp.explain.layers import supported_encoders

    valid = supported_encoders()
    if cfg.encoder not in valid:
        raise ValueError(f"encoder {cfg.encoder!r} is not supported; valid: {', '.join(valid)}")
    if image_size is None:  # preprocess is broken: reported there
        return None
    try:
        return check_model(cfg, image_size)
    except ValueError as err:
        raise ValueError(
            f"architecture {cfg.architecture!r} with encoder {cfg.encoder!r} and decoder_channels "
            f"{list(cfg.decoder_channels)}: {err} (preprocess.image_size {image_size})"
        ) from None


def _check_layers(acfg: AttributeConfig, model: nn.Module, architecture: str) -> None:
    """``attribute.layers`` (and ``guided_gradcam_layer`` when Guided Grad-CAM is computed)
    name layers of ``model``; the error lists the model's layers."""
    from seginterp.explain.layers import resolve_layer, resolve_layers

    where = f"with model.architecture {architecture!r}"
    try:
        resolve_layers(acfg.layers, model)
    except ValueError as err:
        raise ValueError(f"layers {where}: {err} (or layers: all)") from None
    if "guided_gradcam" in acfg.methods:
        try:
            resolve_layer(acfg.guided_gradcam_layer, model)
        except ValueError as err:
            raise ValueError(f"guided_gradcam_layer {where}: {err}") from None


def _note_refused(acfg: AttributeConfig, model: nn.Module, dataset: str, arch: str) -> None:
    """Warn (not an error) when the model cannot run some configured methods: they are skipped,
    with the reason recorded in summary.json (:func:`seginterp.explain.config.runnable_methods`;
    on the meta model: no memory, no weights)."""
    from seginterp.explain.captum_safe import captum_safe
    from seginterp.explain.engine import runnable_methods

    with torch.device("meta"):
        _, refused = runnable_methods(acfg, captum_safe(model))
    for method, reason in refused.items():
        log.warning("%s.attribute: %s is skipped on model.architecture %r: %s",
                    dataset, method, arch, reason)  # fmt: skip


def _check_pretrained(built: dict[str, Any], params: Mapping[str, Any], dataset: str) -> list[str]:
    """``model.pretrained`` exists; ``train.epochs: 0`` (keep it as it is) needs one; replicates
    of an untrained import are one model (a warning)."""
    model, train = built.get("model"), built.get("train")
    pretrained = getattr(model, "pretrained", None)
    if pretrained is not None and not Path(pretrained).exists():
        return [f"{dataset}.model: pretrained {pretrained!r}: no such file or folder"]
    if train is None or train.epochs > 0:
        return []
    if pretrained is None:
        return [f"{dataset}.train: epochs 0 keeps an imported model: set model.pretrained"]
    with contextlib.suppress(ValueError):  # a bad replicates list is reported by itself
        if len(replicate_seeds(params)) > 1:
            log.warning("%s: train.epochs 0 imports %s unchanged: every replicate is the same "
                        "model (set replicates: [0])", dataset, pretrained)  # fmt: skip
    return []


def check_dataset(params: Mapping[str, Any], dataset: str) -> list[str]:
    """One line per problem in ``params[dataset]`` (empty: every stage can start)."""
    if dataset not in (params.get("datasets") or []):
        listed = ", ".join(map(str, params.get("datasets") or []))
        return [f"datasets: {dataset!r} is not listed (datasets: {listed})"]
    if dataset in NOT_DATASETS:
        return [f"datasets: {dataset!r} names a section that is not a dataset; rename it"]
    errors = []
    built: dict[str, Any] = {}
    for section, build in _builders(params, dataset).items():
        try:
            built[section] = build()
            if section == "model":
                pre = built.get("preprocess")
                size = pre.image_size if pre is not None else None
                built["model_meta"] = _check_model(built[section], size)
            if section == "attribute" and built.get("model_meta") is not None:
                arch = built["model"].architecture
                _check_layers(built[section], built["model_meta"], arch)
                _note_refused(built[section], built["model_meta"], dataset, arch)
        except (ValueError, TypeError, KeyError) as err:  # ParamsError, UnknownNameError too
            errors.append(_one_line(dataset, section, err))
    errors += _check_pretrained(built, params, dataset)
    try:
        check_nproc((params.get("scale") or {}).get("nproc_per_node", 1), "nproc_per_node")
        cpu_threads(params)
        check_portable(numerics(params))
    except ValueError as err:
        errors.append(_one_line(dataset, "scale", err).replace(f"{dataset}.scale", "scale", 1))
    try:
        replicate_seeds(params)
    except ValueError as err:
        errors.append(str(err))
    return errors
