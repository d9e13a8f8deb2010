"""Explainable layers named independently of the encoder, and Captum-safe model conversion.

Layer names (DESIGN §2). An smp ``Unet`` of depth ``d`` (``d = len(decoder_channels)``, 5 in
params.yaml) has ``d`` encoder stages at strides 2, 4, …, 2^d and ``d`` decoder blocks:

- ``encoder1`` … ``encoder{d-1}``: encoder stage k (stride 2^k), the skip features of the decoder;
- ``bottleneck``: the deepest encoder stage (stride 2^d). smp's ``decoder.center`` is Identity for
  every encoder except VGG, where it is a conv block (decoder side, not named here);
- ``decoder1`` … ``decoder{d}``: ``decoder.blocks[k-1]``; ``decoder1`` works at stride 2^(d-1),
  ``decoder{d}`` at full resolution (it feeds the segmentation head).

A layer's map is taken at the *output* of the module below. smp's encoders differ in structure:

=====================  ==============================  ===========================  ========
encoder family         encoder1 … encoder4             bottleneck (depth 5)         DeepLIFT
=====================  ==============================  ===========================  ========
resnet*, resnext*      ``encoder.relu`` (stem),        ``encoder.layer4``           exact
(ResNetEncoder)        ``encoder.layer1..layer3``
vgg*, vgg*_bn          ``encoder.features.{i}``, i =   ``encoder.features.{last}``  exact
(VGGEncoder)           the ReLU before each MaxPool    (the final MaxPool)
densenet*              ``encoder.features.relu0``,     ``encoder.features.norm5``   exact
(DenseNetEncoder)      ``…transition{1,2,3}.relu``
mobilenet_v2           ``encoder.features.{1,3,6,13}``  ``encoder.features.18``      refused
(MobileNetV2Encoder)                                                                (ReLU6)
=====================  ==============================  ===========================  ========

"exact": summation-to-delta within 1e-5 relative on the Captum-safe model with zeros, blurred and
mean baselines (tested: resnet18/34/50, vgg11_bn, densenet121).
Decoder blocks are ``decoder.blocks.{0..4}`` for every family. :func:`layer_table` gives the exact
paths for a built model; other encoder families are refused with :class:`UnsupportedEncoderError`.

Captum-safe models. Captum's DeepLift attaches its rule to each nonlinearity *module* and fails
("module is being used more than once") when one module is called twice: torchvision's
``BasicBlock``/``Bottleneck`` call ``self.relu`` two/three times. :func:`captum_safe` returns a deep
copy where every activation call site has its own ``nn.ReLU`` (``inplace=False``) and every
``nn.MaxPool2d`` is a :class:`DeepLiftMaxPool2d` (Captum's MaxPool rule is not exact here, see
there). DeepLift treats any nonlinearity outside Captum's list (``SUPPORTED_NON_LINEAR`` in
``captum/attr/_core/deep_lift.py``: ReLU, ELU, LeakyReLU, Sigmoid, Tanh, Softplus, MaxPool1/2/3d,
Softmax) as a plain gradient, which silently breaks summation-to-delta: :func:`deeplift_blockers`
finds such activations (modules and functional calls) with a probe forward, and
``captum_safe(model, deeplift=True)`` refuses the model with an error naming them (e.g.
mobilenet_v2: ReLU6).
"""

from __future__ import annotations

import contextlib
import copy
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR
from torch import nn
from torch.overrides import TorchFunctionMode
from torchvision.models.resnet import BasicBlock, Bottleneck

from .registry import Registry

LAYERS: Registry[str] = Registry("layer")
"""Layer names -> one-line description (resolved to modules by :func:`layer_table`)."""
for _k in range(1, 5):
    LAYERS.add(f"encoder{_k}", f"encoder stage {_k} (stride {2**_k}), a skip input of the decoder")
LAYERS.add("bottleneck", "deepest encoder stage (input of decoder.center)")
for _k in range(1, 6):
    LAYERS.add(f"decoder{_k}", f"decoder.blocks[{_k - 1}] (decoder{_k} of 5 is at full resolution)")


class UnsupportedEncoderError(ValueError):
    """The model's encoder cannot be explained as asked (no layer table, or DeepLIFT-unsafe)."""


# ---------------------------------------------------------------------------------------------
# layer table


def _stage_paths(encoder: nn.Module) -> list[str]:
    """Module paths of encoder stages 1..depth (output = the feature at stride 2^k)."""
    cls = type(encoder).__name__
    depth = int(encoder._depth)
    if cls == "ResNetEncoder":
        paths = ["encoder.relu", "encoder.layer1", "encoder.layer2", "encoder.layer3"]
        paths.append("encoder.layer4")
    elif cls == "DenseNetEncoder":
        paths = ["encoder.features.relu0"]
        paths += [f"encoder.features.transition{k}.relu" for k in (1, 2, 3)]
        paths.append("encoder.features.norm5")
    elif cls == "VGGEncoder":  # features[0] is the stride-1 map, which the decoder drops
        paths = [f"encoder.features.{i}" for i in encoder._out_indexes[1:]]
    elif cls == "MobileNetV2Encoder":
        paths = [f"encoder.features.{i}" for i in encoder._out_indexes]
    else:
        raise UnsupportedEncoderError(
            f"no layer table for encoder class {cls}; supported families: "
            f"{', '.join(SUPPORTED_FAMILIES)} (encoders: {', '.join(supported_encoders())})"
        )
    return paths[:depth]


SUPPORTED_FAMILIES: tuple[str, ...] = (
    "ResNetEncoder",
    "VGGEncoder",
    "DenseNetEncoder",
    "MobileNetV2Encoder",
)


def supported_encoders() -> list[str]:
    """smp encoder names whose family has a layer table (DeepLIFT may still refuse some)."""
    from segmentation_models_pytorch.encoders import encoders

    return [k for k, v in encoders.items() if v["encoder"].__name__ in SUPPORTED_FAMILIES]


def layer_table(model: nn.Module) -> dict[str, str]:
    """Layer name -> module path in ``model`` (an smp Unet), for the names this model has."""
    if not hasattr(model, "encoder") or not hasattr(model, "decoder"):
        raise UnsupportedEncoderError(f"{type(model).__name__} is not an smp Unet")
    stages = _stage_paths(model.encoder)
    depth = len(stages)
    table = {f"encoder{k}": stages[k - 1] for k in range(1, depth)}
    table["bottleneck"] = stages[-1]
    for k in range(1, len(model.decoder.blocks) + 1):
        table[f"decoder{k}"] = f"decoder.blocks.{k - 1}"
    return table


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The module for layer ``name``; unknown or absent names list the valid ones."""
    LAYERS.get(name)  # unknown name -> UnknownNameError listing all names
    table = layer_table(model)
    if name not in table:
        raise UnsupportedEncoderError(
            f"layer {name!r} does not exist in this model (depth {len(model.decoder.blocks)}); "
            f"valid layers: {', '.join(table)}"
        )
    return model.get_submodule(table[name])


# ---------------------------------------------------------------------------------------------
# Captum-safe conversion


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


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


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
        if pool.return_indices or pool.ceil_mode or _pair(pool.dilation) != (1, 1):
            raise UnsupportedEncoderError(
                f"MaxPool2d with return_indices/ceil_mode/dilation is not supported: {pool}"
            )
        self.kernel_size = _pair(pool.kernel_size)
        self.stride = _pair(pool.stride if pool.stride is not None else pool.kernel_size)
        self.padding = _pair(pool.padding)
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


# ---------------------------------------------------------------------------------------------
# DeepLIFT probe

#: modules DeepLift may treat by their plain gradient: affine in their input (eval mode)
_AFFINE_MODULES: tuple[type[nn.Module], ...] = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose2d,
    nn.Linear,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.Identity,
    nn.Dropout,
    nn.Dropout2d,
    nn.ZeroPad2d,
    nn.ConstantPad2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.Flatten,
    nn.Upsample,
)
#: functional calls that are nonlinear in their input (DeepLift sees only their gradient)
_NONLINEAR_FUNCS = frozenset(
    "relu relu_ relu6 hardtanh hardtanh_ gelu silu silu_ sigmoid sigmoid_ tanh tanh_ softmax "
    "log_softmax elu elu_ leaky_relu leaky_relu_ softplus hardswish hardswish_ hardsigmoid mish "
    "max_pool1d max_pool2d max_pool3d max_pool2d_with_indices clamp clamp_ clamp_min clip "
    "layer_norm group_norm instance_norm".split()
)


class _FunctionProbe(TorchFunctionMode):
    """Records nonlinear functional calls together with the innermost running module."""

    def __init__(self, stack: list[str]) -> None:
        super().__init__()
        self.stack = stack
        self.calls: list[tuple[str, str]] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = getattr(func, "__name__", "")
        if name in _NONLINEAR_FUNCS:
            self.calls.append((name, self.stack[-1] if self.stack else "<model>"))
        return func(*args, **(kwargs or {}))


@dataclass
class _Trace:
    """What a probe forward saw: running module stack, call counts, chained nonlinearities."""

    stack: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    produced_by: dict[int, tuple[str, torch.Tensor]] = field(default_factory=dict)
    chained: set[tuple[str, str]] = field(default_factory=set)


@contextlib.contextmanager
def _module_stack(model: nn.Module) -> Iterator[_Trace]:
    """Trace a forward via hooks (removed on exit)."""
    trace = _Trace()
    handles = []

    for path, module in model.named_modules():
        hooked = type(module) in SUPPORTED_NON_LINEAR

        def pre(_m: nn.Module, inp: Any, path: str = path, hooked: bool = hooked) -> None:
            trace.stack.append(path)
            trace.counts[path] += 1
            if hooked and inp and isinstance(inp[0], torch.Tensor):
                src = trace.produced_by.get(id(inp[0]))
                if src is not None and src[1] is inp[0]:
                    trace.chained.add((src[0], path))

        def post(
            _m: nn.Module, _inp: Any, out: Any, path: str = path, hooked: bool = hooked
        ) -> None:
            trace.stack.pop()
            if hooked and isinstance(out, torch.Tensor):
                trace.produced_by[id(out)] = (path, out)  # keeps `out` alive: ids stay unique

        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(post))
    try:
        yield trace
    finally:
        for h in handles:
            h.remove()


def deeplift_blockers(model: nn.Module, size: int = 64) -> list[str]:
    """Why DeepLIFT (Rescale, Captum 0.9) cannot be exact on ``model``; empty when it can.

    A probe forward on a (1, C, size, size) input finds: leaf modules that are neither affine nor
    in Captum's ``SUPPORTED_NON_LINEAR``; supported nonlinear modules called more than once;
    overlapping ``MaxPool2d`` windows; a hooked nonlinearity fed directly by another; and
    nonlinear functional calls made outside a supported module of their own.
    """
    was_training = model.training
    model.eval()
    modules = dict(model.named_modules())
    leaf_problems: dict[str, list[str]] = {}
    for path, m in modules.items():
        if next(m.children(), None) is not None:
            continue
        if type(m) in SUPPORTED_NON_LINEAR or type(m) in _AFFINE_MODULES:
            continue
        leaf_problems.setdefault(type(m).__name__, []).append(path)
    in_ch = _in_channels(model)
    try:
        with _module_stack(model) as trace, torch.no_grad():
            probe = _FunctionProbe(trace.stack)
            with probe:
                model(torch.rand(1, in_ch, size, size, generator=torch.Generator().manual_seed(0)))
    finally:
        model.train(was_training)
    counts = trace.counts
    problems = []
    for tname, paths in leaf_problems.items():
        if any(counts[p] for p in paths):
            used = [p for p in paths if counts[p]]
            problems.append(
                f"activation {tname} is not in Captum DeepLift's nonlinearities "
                f"({len(used)}x, e.g. {used[0]})"
            )
    for path, n in counts.items():
        if n > 1 and type(modules[path]) in SUPPORTED_NON_LINEAR:
            problems.append(f"{type(modules[path]).__name__} module {path} is called {n} times")
    for path, m in modules.items():
        if type(m) is nn.MaxPool2d and counts[path]:
            k, st = _pair(m.kernel_size), _pair(m.stride if m.stride is not None else m.kernel_size)
            if k[0] > st[0] or k[1] > st[1]:
                problems.append(
                    f"MaxPool2d {path} has overlapping windows ({m}): Captum's max-unpool rule "
                    "drops contributions"
                )
    for src, dst in sorted(trace.chained):
        problems.append(
            f"{type(modules[src]).__name__} {src} feeds {type(modules[dst]).__name__} {dst} "
            "directly: Captum records the first one's output gradient before the second's rule"
        )
    funcs: dict[tuple[str, str], int] = Counter()
    for fname, path in probe.calls:
        owner = modules.get(path)
        if owner is not None and type(owner) in SUPPORTED_NON_LINEAR:
            continue
        if owner is not None and type(owner).__name__ in leaf_problems:
            continue  # already reported as a module
        funcs[(fname, type(owner).__name__ if owner is not None else "?")] += 1
    for (fname, owner_type), n in funcs.items():
        problems.append(f"functional {fname} called inside {owner_type} ({n}x)")
    return problems


def _in_channels(model: nn.Module) -> int:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return int(m.in_channels)
    raise UnsupportedEncoderError(f"{type(model).__name__} has no Conv2d to infer input channels")


def check_deeplift(model: nn.Module) -> None:
    """Raise :class:`UnsupportedEncoderError` naming what breaks DeepLIFT on ``model``."""
    problems = deeplift_blockers(model)
    if problems:
        enc = getattr(getattr(model, "encoder", None), "__class__", type(model)).__name__
        raise UnsupportedEncoderError(
            f"DeepLIFT cannot be exact on this model ({enc}): " + "; ".join(problems) + ". "
            "Use captum_safe() first, choose an encoder whose activations Captum supports "
            "(e.g. resnet18/34/50), or drop deeplift from the methods."
        )
