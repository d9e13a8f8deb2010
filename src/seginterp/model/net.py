"""The segmentation model (segmentation-models-pytorch) built from params, saved with its config.

``model.architecture`` names one of :data:`~seginterp.model.architectures.ARCHITECTURES`;
``unet`` (the default) is the paper's U-Net.

The model takes float32 images (B, 3, H, W) in [0, 1] (:func:`to_input`) and outputs one channel
of logits ``z`` of shape (B, 1, H, W); the sigmoid is applied outside the model (and outside every
explained function).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from seginterp.core.io import atomic_path
from seginterp.core.params import StageConfig, from_mapping, to_dict
from seginterp.model.architectures import build_architecture, check_buildable, smp_kwargs


@dataclass(frozen=True)
class ModelConfig(StageConfig):
    """``<dataset>.model`` in params.yaml."""

    section = "model"

    architecture: str = "unet"
    encoder: str = "resnet18"
    encoder_weights: str | None = None
    decoder_channels: tuple[int, ...] = (128, 64, 32, 16, 8)
    in_channels: int = 3
    pretrained: str | None = None
    """A model trained elsewhere that ``train`` imports (:mod:`seginterp.model.external`):
    this architecture's weights, as a model.pt, an smp save_pretrained folder or a state_dict."""

    def __post_init__(self) -> None:
        if len(self.decoder_channels) < 1 or any(c <= 0 for c in self.decoder_channels):
            raise ValueError(f"decoder_channels must be positive ints, got {self.decoder_channels}")
        smp_kwargs(self.architecture, self.decoder_channels)  # unknown name: lists valid ones
        if self.pretrained is not None and not (
            isinstance(self.pretrained, str) and self.pretrained
        ):
            raise ValueError(f"model.pretrained must be a path or null, got {self.pretrained!r}")

    def build_dict(self) -> dict[str, Any]:
        """What builds the model (saved with it): every field but ``pretrained``."""
        out = to_dict(self)
        del out["pretrained"]
        return out


def build_model(cfg: ModelConfig) -> nn.Module:
    """The ``cfg.architecture`` smp model with one output channel of logits (no activation).

    Unknown encoders fail with smp's own error, which lists the valid names.
    """
    return build_architecture(
        cfg.architecture,
        cfg.decoder_channels,
        encoder=cfg.encoder,
        encoder_weights=cfg.encoder_weights,
        in_channels=cfg.in_channels,
    )


def check_model(cfg: ModelConfig, image_size: int) -> nn.Module:
    """Build ``cfg`` on the meta device for ``image_size`` px inputs (no weights downloaded,
    nothing allocated) and return it; ValueError saying why it cannot be built."""
    cfg = dataclasses.replace(cfg, encoder_weights=None)
    return check_buildable(lambda: build_model(cfg), image_size, cfg.in_channels)


def to_input(images: np.ndarray) -> Tensor:
    """uint8 images (N,H,W,3) -> float32 model input (N,3,H,W) in [0, 1]."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected images of shape (N,H,W,3), got {images.shape}")
    # a copy: the prepared arrays are read-only memory maps, which torch must not alias
    x = torch.from_numpy(np.array(images, copy=True)).permute(0, 3, 1, 2)
    return x.contiguous().float().div_(255.0)  # NCHW-contiguous: ~10% faster convs on CPU


def save_model(path: str | Path, model: nn.Module, cfg: ModelConfig, **extra: Any) -> None:
    """Save the state_dict together with the exact config that builds it (atomic)."""
    payload = {
        "format": "seginterp.model/1",
        "config": cfg.build_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra,
    }
    save_torch(path, payload)


def save_torch(path: str | Path, obj: Any) -> None:
    """``torch.save`` atomically and byte-reproducibly.

    Saving through a file handle keeps the archive's inner folder name fixed (``archive/``);
    ``torch.save(obj, tmp_path)`` would embed the random temporary file name.
    """
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        torch.save(obj, fh)


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelConfig, dict[str, Any]]:
    """Rebuild the saved model (``weights_only=True``): (model in eval mode, config, extra)."""
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != "seginterp.model/1":
        raise ValueError(f"{path}: not a seginterp model file (missing format tag)")
    cfg = from_mapping(ModelConfig, payload["config"], "model")
    # weights were trained; never download pretrained weights when rebuilding
    model = build_model(dataclasses.replace(cfg, encoder_weights=None))
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, cfg, dict(payload.get("extra") or {})


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device {name!r} requested but CUDA is not available; use 'auto' or 'cpu'"
        )
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; valid: auto, cpu, cuda, cuda:N")
    return torch.device(name)
