"""A segmentation model trained elsewhere, read from one of three formats, never unpickled:

- this pipeline's ``model.pt`` (:func:`~seginterp.model.net.save_model`);
- a directory written by segmentation-models-pytorch's ``save_pretrained`` (``config.json`` and
  ``model.safetensors``): its config names the architecture, encoder and classes;
- a plain ``state_dict`` file (``torch.save(model.state_dict(), path)``) of the smp model that
  :class:`Build` describes (``--architecture/--encoder/--classes`` on the command line).

Files are read with ``torch.load(weights_only=True)``: a pickled model object is refused, with
how to save its ``state_dict`` instead. Pretrained encoder weights are never downloaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seginterp.model.architectures import ARCHITECTURES, smp_kwargs
from seginterp.model.net import ModelConfig, build_model, load_model


class ModelFormatError(ValueError):
    """The model file cannot be read as any of the three formats, or does not fit its build."""


@dataclass(frozen=True)
class Build:
    """The smp model a plain ``state_dict`` belongs to: ``architecture`` (a name of
    :data:`~seginterp.model.architectures.ARCHITECTURES`), ``encoder``, ``classes`` output
    channels, ``decoder_channels`` (None: smp's default for the architecture)."""

    architecture: str | None = None
    encoder: str | None = None
    classes: int = 1
    decoder_channels: tuple[int, ...] | None = None

    def model(self) -> nn.Module:
        """The smp model with random weights."""
        import segmentation_models_pytorch as smp

        if self.architecture is None or self.encoder is None:
            raise ModelFormatError(
                "a plain state_dict does not say which model it belongs to: give the "
                f"architecture ({', '.join(ARCHITECTURES)}), the encoder and the classes"
            )
        arch = ARCHITECTURES.get(self.architecture)
        kwargs = {} if self.decoder_channels is None else smp_kwargs(
            self.architecture, self.decoder_channels
        )  # fmt: skip
        return getattr(smp, arch.smp_class)(
            encoder_name=self.encoder, encoder_weights=None, classes=self.classes,
            activation=None, **kwargs,
        )  # fmt: skip


def architecture_name(model: nn.Module) -> str:
    """The :data:`ARCHITECTURES` name of an smp model's class; ModelFormatError if none."""
    cls = type(model).__name__
    for name in ARCHITECTURES:
        if ARCHITECTURES.get(name).smp_class == cls:
            return name
    raise ModelFormatError(
        f"{cls} is not one of seginterp's architectures: {', '.join(ARCHITECTURES)}"
    )


def read_model(path: str | Path, build: Build | None = None) -> nn.Module:
    """The model at ``path`` in eval mode on the CPU (module doc); ``build`` is used for a plain
    ``state_dict`` only."""
    path = Path(path)
    if path.is_dir():
        return _smp_directory(path)
    if not path.is_file():
        raise ModelFormatError(f"{path}: no such model file or directory")
    payload = _torch_load(path)
    if isinstance(payload, dict) and payload.get("format") == "seginterp.model/1":
        return load_model(path)[0]
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        payload = payload["state_dict"]  # a training checkpoint that nests it
    if not isinstance(payload, dict) or not all(
        isinstance(v, torch.Tensor) for v in payload.values()
    ):
        raise ModelFormatError(
            f"{path}: neither a seginterp model.pt nor a state_dict (a dict of tensors)"
        )
    model = (build or Build()).model()
    load_weights(model, payload, str(path))
    return model.eval()


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """``model.load_state_dict(state)`` exactly (every key, every shape), or one line saying
    what does not fit."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        what = [f"{len(missing)} missing (e.g. {missing[0]})"] if missing else []
        what += [f"{len(unexpected)} unexpected (e.g. {unexpected[0]})"] if unexpected else []
        what += [f"{len(shapes)} of another shape (e.g. {shapes[0]})"] if shapes else []
        raise ModelFormatError(
            f"{source}: the weights do not fit this {type(model).__name__}: {', '.join(what)}; "
            "check the architecture, encoder, classes and decoder channels"
        )
    model.load_state_dict(state)


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported global" not in str(err):  # junk, not a pickled object of some class
            raise ModelFormatError(f"{path}: not a readable torch file ({err})") from None
        raise ModelFormatError(
            f"{path} holds a pickled model object, which seginterp does not load (unpickling "
            "can run any code). Save its weights instead: torch.save(model.state_dict(), "
            "'weights.pt'), or model.save_pretrained('model_dir') for an smp model"
        ) from None
    except (RuntimeError, OSError, EOFError) as err:
        raise ModelFormatError(f"{path}: not a readable torch file ({err})") from None


def _smp_directory(path: Path) -> nn.Module:
    """A ``save_pretrained`` directory: smp rebuilds the model its config.json names."""
    import segmentation_models_pytorch as smp

    config = path / "config.json"
    if not config.is_file() or not (path / "model.safetensors").is_file():
        raise ModelFormatError(
            f"{path}: a model directory must hold config.json and model.safetensors "
            "(segmentation-models-pytorch's save_pretrained)"
        )
    try:
        cls = json.loads(config.read_text())["_model_class"]
    except (ValueError, KeyError):
        raise ModelFormatError(f"{config}: not an smp config (no _model_class)") from None
    model = getattr(smp, str(cls), None)
    if model is None:
        raise ModelFormatError(f"{config}: {cls!r} is not a segmentation-models-pytorch class")
    return model.from_pretrained(path, encoder_weights=None).eval()


def import_pretrained(cfg: ModelConfig, image_size: int) -> tuple[dict[str, torch.Tensor], str]:
    """The weights of ``cfg.pretrained`` for the model ``cfg`` builds, and their SHA-256.

    The file is read in any of the three formats (a state_dict as ``cfg`` describes it), loaded
    key by key into :func:`~seginterp.model.net.build_model` of ``cfg``, and both must give the
    same (1, 1, S, S) logits for a seeded ``image_size`` px input: a checkpoint of another
    architecture, encoder, class count or decoder is refused, saying which.
    """
    if cfg.pretrained is None:
        raise ValueError("model.pretrained is null: there is nothing to import")
    path, where = Path(cfg.pretrained), f"model.pretrained {cfg.pretrained}"
    theirs = read_model(path, Build(cfg.architecture, cfg.encoder, 1, cfg.decoder_channels))
    ours = build_model(dataclasses.replace(cfg, encoder_weights=None, pretrained=None))
    load_weights(ours, theirs.state_dict(), where)
    x = torch.rand(1, cfg.in_channels, image_size, image_size,
                   generator=torch.Generator().manual_seed(0))  # fmt: skip
    try:
        with torch.no_grad():
            want, got = theirs.eval()(x), ours.eval()(x)
    except RuntimeError as err:
        raise ModelFormatError(f"{where}: cannot run on {image_size} px inputs: {err}") from None
    if want.shape != got.shape or not torch.allclose(got, want, rtol=1e-4, atol=1e-4):
        raise ModelFormatError(
            f"{where}: the checkpoint's model computes other logits than the model "
            f"{cfg.architecture}/{cfg.encoder} of params.yaml with the same weights; set the "
            "model section to the checkpoint's (decoder channels, interpolation, attention)"
        )
    return {k: v.detach().clone() for k, v in ours.state_dict().items()}, weights_sha256(path)


def weights_sha256(path: Path) -> str:
    """SHA-256 of a model file, or of a folder's files (names and bytes, in name order)."""
    h = hashlib.sha256()
    files = sorted(f for f in path.iterdir() if f.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(f.name.encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
