"""The paper's U-Net (segmentation-models-pytorch) built from params, saved with its config.

The model outputs one channel of logits ``z`` of shape (B, 1, H, W); the sigmoid is applied
outside the model (and outside every explained function).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .io import atomic_path
from .params import from_mapping, to_dict


@dataclass(frozen=True)
class ModelConfig:
    """``<dataset>.model`` in params.yaml."""

    encoder: str = "resnet18"
    encoder_weights: str | None = None
    decoder_channels: tuple[int, ...] = (128, 64, 32, 16, 8)
    in_channels: int = 3

    def __post_init__(self) -> None:
        if len(self.decoder_channels) < 1 or any(c <= 0 for c in self.decoder_channels):
            raise ValueError(f"decoder_channels must be positive ints, got {self.decoder_channels}")


def build_model(cfg: ModelConfig) -> nn.Module:
    """An ``smp.Unet`` with one output channel of logits.

    Unknown encoders fail with smp's own error, which lists the valid names.
    """
    import segmentation_models_pytorch as smp

    depth = len(cfg.decoder_channels)
    return smp.Unet(
        encoder_name=cfg.encoder,
        encoder_depth=depth,
        encoder_weights=cfg.encoder_weights,
        decoder_channels=list(cfg.decoder_channels),
        in_channels=cfg.in_channels,
        classes=1,
        activation=None,
    )


def model_config_from_params(section: dict[str, Any]) -> ModelConfig:
    return from_mapping(ModelConfig, section, "model")


def save_model(path: str | Path, model: nn.Module, cfg: ModelConfig, **extra: Any) -> None:
    """Save the state_dict together with the exact config that builds it (atomic)."""
    payload = {
        "format": "seginterp.model/1",
        "config": to_dict(cfg),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


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
