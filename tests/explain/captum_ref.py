"""Test helpers for tests/explain: a briefly trained U-Net and the plain Captum per-pixel loop
every border-pixel map is checked against (imported as ``from explain.captum_ref import ...``)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seginterp.explain.borders import border_pixels
from seginterp.explain.captum_safe import captum_safe
from seginterp.explain.config import AttributeConfig
from seginterp.explain.layers import UNET_LAYERS
from seginterp.explain.registry import LAYER_METHODS, METHODS
from seginterp.model.net import ModelConfig, build_model

S = 32  # image side
IG_STEPS = 8
CHUNK = 16
DEC = (16, 8, 8, 8, 8)
CUTS = ["encoder1", "decoder4", "decoder5"]  # layers every path crosses (smp Unet of depth 5)


def blobs(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy images with one bright disc each; masks (n, 1, size, size)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    cy, cx = torch.randint(10, size - 10, (2, n), generator=g)
    r = torch.randint(5, 9, (n,), generator=g)
    masks = (yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2 < r[:, None, None] ** 2
    masks = masks.float()[:, None]
    imgs = 0.3 + 0.4 * masks * torch.tensor([0.9, 0.5, 0.3]).view(1, 3, 1, 1)
    imgs = (imgs + 0.08 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)
    return imgs, masks


def trained_unet() -> tuple[nn.Module, nn.Module, torch.Tensor, np.ndarray]:
    """A briefly trained resnet18 U-Net (a few Adam steps), its Captum-safe copy, an image
    (1, 3, S, S) and the border (S, S) of its disc."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = build_model(ModelConfig(encoder="resnet18", decoder_channels=DEC))
    imgs, masks = blobs(8, S, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(6):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(imgs), masks).backward()
        opt.step()
    model.eval()
    border = border_pixels(masks[0, 0].numpy())
    assert 20 <= border.sum() <= 80
    return model, captum_safe(model), imgs[:1].clone(), border


def cfg(**kw) -> AttributeConfig:
    """Every method at every layer, small and on the CPU; ``kw`` overrides."""
    base = dict(
        methods=tuple(METHODS.names()),
        layer_methods=tuple(LAYER_METHODS.names()),
        layers=UNET_LAYERS,
        ig_steps=IG_STEPS,
        chunk_size=CHUNK,
        device="cpu",
        deeplift_baseline="blur",
    )
    base.update(kw)
    return AttributeConfig(**base)


def per_pixel_mean(attribute, x: torch.Tensor, border: np.ndarray, **kw) -> torch.Tensor:
    """Plain Captum loop: mean over border pixels q of attribute(x, target=q) (batches of
    replicated inputs; baselines replicated alike)."""
    idx = np.flatnonzero(border.ravel())
    total = None
    for s in range(0, len(idx), CHUNK):
        t = [int(i) for i in idx[s : s + CHUNK]]
        rep = {k: v.expand(len(t), *v.shape[1:]) for k, v in kw.items() if torch.is_tensor(v)}
        other = {k: v for k, v in kw.items() if not torch.is_tensor(v)}
        a = attribute(x.expand(len(t), *x.shape[1:]).clone(), target=t, **rep, **other)
        a = a.detach().sum(0, keepdim=True)
        total = a if total is None else total + a
    return total / len(idx)


U32 = 2.0**-24
"""float32 unit roundoff."""


def float32_bound(model: nn.Module) -> float:
    """Twice Higham's γ_K = K·u / (1 − K·u) (u = 2⁻²⁴), K the largest fan-in of a convolution or
    linear layer of ``model``: a float32 accumulation of K terms may carry a relative error of
    γ_K, so two float32 computations of one map that sum in other orders (other batch layouts,
    kernels the CPU chooses) may differ by up to twice that, on any CPU."""
    layers = (nn.Conv2d, nn.Linear)
    k = max(m.weight[0].numel() for m in model.modules() if isinstance(m, layers))
    return 2 * k * U32 / (1 - k * U32)


def rel(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """Relative L2 error of ``a`` against ``b``."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return float((a - b).norm() / b.norm())


def by_key(records) -> dict[tuple[str, str | None], object]:
    """Records of one image by (method, layer)."""
    return {(r.method, r.layer): r for r in records}


def _random_batchnorm(m: nn.Module, seed: int) -> nn.Module:
    """``m`` in eval mode with non-trivial, seeded BatchNorm statistics and affine params."""
    g = torch.Generator().manual_seed(seed + 1)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.normal_(0, 0.2, generator=g)
            mod.running_var.uniform_(0.5, 2.0, generator=g)
            mod.weight.data.uniform_(0.5, 1.5, generator=g)
            mod.bias.data.normal_(0, 0.2, generator=g)
    return m.eval()


def random_unet(encoder: str, seed: int = 0, decoder=DEC) -> nn.Module:
    """Random U-Net with non-trivial BatchNorm statistics (eval mode)."""
    torch.manual_seed(seed)
    return _random_batchnorm(
        build_model(ModelConfig(encoder=encoder, decoder_channels=decoder)), seed
    )


def random_smp(arch: str, encoder: str, seed: int = 0) -> nn.Module:
    """A random smp model ``arch`` (``smp.create_model`` name, smp's defaults, one class of
    logits) with non-trivial BatchNorm statistics (eval mode)."""
    import segmentation_models_pytorch as smp

    torch.manual_seed(seed)
    m = smp.create_model(arch, encoder_name=encoder, encoder_weights=None, classes=1)
    return _random_batchnorm(m, seed)
