"""Small inputs shared by the tests of tests/evaluate: a square border, a tiny U-Net, its f."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from seginterp.explain.target import border_mean_logit

S = 32


def square_border() -> np.ndarray:
    """(S, S) bool: the outline of a 16 px square."""
    b = np.zeros((S, S), dtype=bool)
    b[8, 8:24] = b[23, 8:24] = b[8:24, 8] = b[8:24, 23] = True
    return b


def tiny_unet(seed: int = 0) -> nn.Module:
    from seginterp.model.net import ModelConfig, build_model

    torch.manual_seed(seed)
    return build_model(ModelConfig(encoder="resnet18", decoder_channels=(8, 8, 4, 4, 4))).eval()


def border_f(model: nn.Module, border: np.ndarray) -> nn.Module:
    """``f(x)`` = mean logit over ``border``, in the model's dtype."""
    dtype = next(model.parameters()).dtype  # its weight buffer is float32 unless converted
    return border_mean_logit(model, border).to(dtype)
