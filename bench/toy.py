"""A few seeded optimizer steps that give a bench model non-random outputs (shared by the bench
scripts, run as ``python bench/<name>.py``, so this directory is on ``sys.path``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fit_briefly(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
    """``steps`` Adam steps (lr 5e-4) of BCE on ``x`` (N, C, H, W) -> ``y`` (N, 1, H, W);
    leaves ``model`` in eval mode."""
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(x), y).backward()
        opt.step()
    model.eval()
