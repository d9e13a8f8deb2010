"""Captum-safe models: one activation module per call site, exact max-pooling for DeepLIFT.

Captum's DeepLift attaches its rule to each nonlinearity *module* and fails ("module is being used
more than once") when one module is called twice: torchvision's ``BasicBlock``/``Bottleneck``
call ``self.relu`` two/three times. :func:`captum_safe` returns a deep copy where every activation
call site has its own ``nn.ReLU`` (``inplace=False``) and every ``nn.MaxPool2d`` is a
:class:`DeepLiftMaxPool2d` (Captum's MaxPool rule is not exact here, see there).
``captum_safe(model, deeplift=True)`` also refuses a model on which DeepLIFT cannot be exact
(:func:`~seginterp.explain.deeplift_check.check_deeplift`).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from seginterp.explain.deeplift_check import UnsupportedEncoderError, check_deeplift, pair


class _SafeBasicBlock(BasicBlock):
    """torchvision BasicBlock with one ReLU module per call site (``relu1``, ``relu2``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + identity)


class _SafeBottleneck(Bottleneck):
    """torchvision Bottleneck with one ReLU module per call site (``relu1..relu3``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu3(out + identity)


class DeepLiftMaxPool2d(nn.Module):
    """``nn.MaxPool2d`` as a tree of pairwise maxima ``max(m, p) = p + relu(m - p)``.

    Same output (up to float rounding) and the same gradient away from ties, but every maximum is
    an ``nn.LeakyReLU(0)`` module of its own, which Captum's DeepLift handles with the exact
    Rescale rule. Captum's own MaxPool rule loses contributions when windows overlap (max-unpool
    keeps one write per position: resnet's 3x3/2 stem pool) and when the pool directly follows a
    hooked ReLU (the ReLU records its output gradient before the pool rule rewrites it).
    LeakyReLU, not ReLU: Guided Backprop (Captum's and ours) must leave these maxima alone.
    """

    def __init__(self, pool: nn.MaxPool2d) -> None:
        super().__init__()
        if pool.return_indices or pool.ceil_mode or pair(pool.dilation) != (1, 1):
            raise UnsupportedEncoderError(
                f"MaxPool2d with return_indices/ceil_mode/dilation is not supported: {pool}"
            )
        self.kernel_size = pair(pool.kernel_size)
        self.stride = pair(pool.stride if pool.stride is not None else pool.kernel_size)
        self.padding = pair(pool.padding)
        kh, kw = self.kernel_size
        self.maxima = nn.ModuleList(nn.LeakyReLU(0.0) for _ in range(kh * kw - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if ph or pw:  # pad below every value (as max_pool2d's -inf): the pad never wins
            fill = x.detach().amin() - 1.0
            x = F.pad(x - fill, (pw, pw, ph, ph), value=0.0) + fill
        ho = (x.shape[-2] - kh) // sh + 1
        wo = (x.shape[-1] - kw) // sw + 1
        pieces = [
            x[..., i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]
            for i in range(kh)
            for j in range(kw)
        ]
        out = pieces[0]
        for act, piece in zip(self.maxima, pieces[1:], strict=True):
            out = piece + act(out - piece)
        return out

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _split_relu(block: nn.Module, cls: type[nn.Module], n: int) -> None:
    block.__class__ = cls
    del block.relu
    for i in range(1, n + 1):
        setattr(block, f"relu{i}", nn.ReLU(inplace=False))


def captum_safe(model: nn.Module, *, deeplift: bool = False) -> nn.Module:
    """A deep copy of ``model`` in eval mode where every activation call site has its own module.

    torchvision ``BasicBlock``/``Bottleneck`` get distinct ``relu1..relu{2,3}`` modules, every
    ``nn.MaxPool2d`` becomes a :class:`DeepLiftMaxPool2d` and every activation ``inplace=False``;
    outputs are unchanged (up to float rounding in the pools). With ``deeplift=True`` the copy is
    probed and refused (:class:`UnsupportedEncoderError`, naming each offending activation) when
    DeepLIFT cannot be exact on it.
    """
    safe = copy.deepcopy(model).eval()
    for module in list(safe.modules()):
        if type(module) is BasicBlock:
            _split_relu(module, _SafeBasicBlock, 2)
        elif type(module) is Bottleneck:
            _split_relu(module, _SafeBottleneck, 3)
    for parent in list(safe.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.MaxPool2d:
                setattr(parent, name, DeepLiftMaxPool2d(child))
    for module in safe.modules():
        if isinstance(module, nn.ReLU | nn.ReLU6 | nn.LeakyReLU | nn.ELU | nn.Hardtanh):
            module.inplace = False
    safe._seginterp_captum_safe = True
    if deeplift:
        check_deeplift(safe)
    return safe


def is_captum_safe(model: nn.Module) -> bool:
    """Whether ``model`` was made by :func:`captum_safe`."""
    return bool(getattr(model, "_seginterp_captum_safe", False))
