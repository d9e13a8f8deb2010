"""Whether DeepLIFT (Rescale, Captum 0.9) can be exact on a model, found by a probe forward.

DeepLift treats any nonlinearity outside Captum's list (``SUPPORTED_NON_LINEAR`` in
``captum/attr/_core/deep_lift.py``: ReLU, ELU, LeakyReLU, Sigmoid, Tanh, Softplus, MaxPool1/2/3d,
Softmax) as a plain gradient, which silently breaks summation-to-delta. :func:`deeplift_blockers`
finds such activations (modules and functional calls) and the other patterns Captum gets wrong:
normalisations by statistics of the input (GroupNorm, LayerNorm, InstanceNorm), products and
quotients of two functions of the input (attention gates, ``matmul`` attention) and Softmax (its
Captum rule is a heuristic, not exact). :func:`check_deeplift` refuses the model with an error
naming them (e.g. mobilenet_v2: ReLU6; FPN: GroupNorm; MAnet: its attention products).

The smp architecture x encoder combinations refused, and why, are listed and tested in
``tests/explain/refused.py``. The pipeline does not stop on them:
:func:`seginterp.explain.config.runnable_methods` drops the DeepLIFT maps there and records the
reason.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR
from torch import nn
from torch.overrides import TorchFunctionMode


class UnsupportedEncoderError(ValueError):
    """The model's encoder cannot be explained as asked (no layer table, or DeepLIFT-unsafe)."""


def pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    """An int or a pair as a pair (kernel sizes, strides, paddings)."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


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
    nn.UpsamplingBilinear2d,
    nn.UpsamplingNearest2d,
)
#: leaf modules outside torch.nn known to be linear in their inputs ("module.qualname")
_LINEAR_CUSTOM_LEAVES = frozenset(
    {"segmentation_models_pytorch.decoders.fpn.decoder.MergeBlock"}  # sum or cat of its inputs
)
#: normalisations by statistics of their own input: not affine in it, DeepLift sees a gradient
_NORMS_OF_INPUT: tuple[type[nn.Module], ...] = (
    nn.GroupNorm,
    nn.LayerNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LocalResponseNorm,
)
#: functional calls that are nonlinear in their input (DeepLift sees only their gradient)
_NONLINEAR_FUNCS = frozenset(
    "relu relu_ relu6 hardtanh hardtanh_ gelu silu silu_ sigmoid sigmoid_ tanh tanh_ softmax "
    "log_softmax elu elu_ leaky_relu leaky_relu_ softplus hardswish hardswish_ hardsigmoid mish "
    "max_pool1d max_pool2d max_pool3d max_pool2d_with_indices clamp clamp_ clamp_min clip "
    "layer_norm group_norm instance_norm".split()
)
#: bilinear calls: nonlinear when two operands depend on the input (DeepLift uses the gradient)
_PRODUCT_FUNCS = frozenset(
    "mul mul_ multiply __mul__ __rmul__ __imul__ matmul __matmul__ __rmatmul__ bmm mm baddbmm "
    "addcmul addcmul_ einsum".split()
)
#: quotients: nonlinear when the divisor depends on the input
_QUOTIENT_FUNCS = frozenset("div div_ divide true_divide __truediv__ __itruediv__".split())
_RQUOTIENT_FUNCS = frozenset({"__rtruediv__"})  # (self=divisor, other)


def _from_input(v: Any) -> bool:
    """Whether ``v`` is a tensor that depends on the probe input (parameters are frozen then)."""
    return isinstance(v, torch.Tensor) and v.requires_grad


class _FunctionProbe(TorchFunctionMode):
    """Records nonlinear functional calls, and products / quotients of two functions of the
    input, together with the innermost running module."""

    def __init__(self, stack: list[str]) -> None:
        super().__init__()
        self.stack = stack
        self.calls: list[tuple[str, str]] = []
        self.products: list[tuple[str, str]] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = getattr(func, "__name__", "")
        where = self.stack[-1] if self.stack else "<model>"
        if name in _NONLINEAR_FUNCS:
            self.calls.append((name, where))
        elif name in _PRODUCT_FUNCS:
            operands = [*args, *(kwargs or {}).values()]
            operands += [t for a in args if isinstance(a, list | tuple) for t in a]  # einsum
            if sum(_from_input(a) for a in operands) >= 2:
                self.products.append((name, where))
        elif name in _QUOTIENT_FUNCS | _RQUOTIENT_FUNCS:
            divisor = args[0] if name in _RQUOTIENT_FUNCS else (args[1] if len(args) > 1 else None)
            if _from_input(divisor):
                self.products.append((name, where))
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
    """Trace a forward via pre/post hooks on every module (removed on exit)."""
    trace = _Trace()

    def pre(path: str, hooked: bool) -> Any:
        def hook(_m: nn.Module, inp: Any) -> None:
            trace.stack.append(path)
            trace.counts[path] += 1
            if hooked and inp and isinstance(inp[0], torch.Tensor):
                src = trace.produced_by.get(id(inp[0]))
                if src is not None and src[1] is inp[0]:
                    trace.chained.add((src[0], path))

        return hook

    def post(path: str, hooked: bool) -> Any:
        def hook(_m: nn.Module, _inp: Any, out: Any) -> None:
            trace.stack.pop()
            if hooked and isinstance(out, torch.Tensor):
                trace.produced_by[id(out)] = (path, out)  # keeps `out` alive: ids stay unique

        return hook

    handles = []
    try:
        for path, module in model.named_modules():
            hooked = type(module) in SUPPORTED_NON_LINEAR
            handles.append(module.register_forward_pre_hook(pre(path, hooked)))
            handles.append(module.register_forward_hook(post(path, hooked)))
        yield trace
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """Within: no parameter of ``model`` requires grad (restored on exit), so a tensor requires
    grad exactly when it depends on the probe input."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _probe(model: nn.Module, size: int) -> tuple[_Trace, _FunctionProbe]:
    """One forward in eval mode on a seeded (1, C, size, size) input needing grad: the module
    trace and the function probe (nonlinear functional calls, products of two functions of the
    input, each with its innermost running module)."""
    was_training = model.training
    model.eval()
    x = torch.rand(1, in_channels(model), size, size, generator=torch.Generator().manual_seed(0))
    p = next(model.parameters(), None)
    if p is not None:
        x = x.to(device=p.device, dtype=p.dtype)
    x.requires_grad_(True)
    try:
        with _module_stack(model) as trace, _frozen(model), torch.enable_grad():
            probe = _FunctionProbe(trace.stack)
            with probe:
                model(x)
    finally:
        model.train(was_training)
    return trace, probe


def deeplift_blockers(model: nn.Module, size: int = 64) -> list[str]:
    """Why DeepLIFT (Rescale, Captum 0.9) cannot be exact on ``model``; empty when it can.

    A probe forward on a (1, C, size, size) input finds: leaf modules that are neither affine nor
    in Captum's ``SUPPORTED_NON_LINEAR``; supported nonlinear modules called more than once;
    overlapping ``MaxPool2d`` windows; a hooked nonlinearity fed directly by another; and
    nonlinear functional calls made outside a supported module of their own; normalisations by
    statistics of the input; products (or quotients) of two functions of the input; Softmax.
    """
    modules = dict(model.named_modules())
    unsupported: dict[str, list[str]] = {}  # leaf type name -> paths
    for path, m in modules.items():
        if next(m.children(), None) is not None:
            continue
        if type(m) in SUPPORTED_NON_LINEAR or type(m) in _AFFINE_MODULES:
            continue
        if f"{type(m).__module__}.{type(m).__qualname__}" in _LINEAR_CUSTOM_LEAVES:
            continue
        unsupported.setdefault(type(m).__name__, []).append(path)
    trace, probe = _probe(model, size)
    counts = trace.counts
    problems = []
    for tname, paths in unsupported.items():
        used = [p for p in paths if counts[p]]
        if used and issubclass(type(modules[used[0]]), _NORMS_OF_INPUT):
            problems.append(
                f"{used[0]}: {tname} is not affine in its input (it normalises by the input's "
                f"own statistics; DeepLift can only follow its gradient) ({len(used)}x)"
            )
        elif used:
            problems.append(
                f"activation {tname} is not in Captum DeepLift's nonlinearities "
                f"({len(used)}x, e.g. {used[0]})"
            )
    for path, m in modules.items():
        if isinstance(m, nn.Softmax | nn.Softmin | nn.LogSoftmax) and counts[path]:
            problems.append(
                f"{path}: {type(m).__name__} is a nonlinearity of many inputs; Captum's Softmax "
                "rule is a heuristic, not exact"
            )
    for path, n in counts.items():
        if n > 1 and type(modules[path]) in SUPPORTED_NON_LINEAR:
            problems.append(f"{type(modules[path]).__name__} module {path} is called {n} times")
    for path, m in modules.items():
        if type(m) is nn.MaxPool2d and counts[path]:
            k, st = pair(m.kernel_size), pair(m.stride if m.stride is not None else m.kernel_size)
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
    problems += _functional_problems(probe.calls, modules, unsupported)
    return problems + _product_problems(probe.products, modules)


def _product_problems(products: list[tuple[str, str]], modules: dict[str, nn.Module]) -> list[str]:
    """Products / quotients of two functions of the input, by module path and function."""
    seen: dict[tuple[str, str], int] = Counter(products)
    out = []
    for (fname, path), n in seen.items():
        owner = type(modules[path]).__name__ if path in modules else "?"
        what = "a division by" if fname in _QUOTIENT_FUNCS | _RQUOTIENT_FUNCS else "a product of"
        out.append(
            f"{path or '<model>'} ({owner}): {fname} is {what} two functions of the input "
            f"({n}x); DeepLift propagates it by its gradient at x, which is not exact"
        )
    return out


def _functional_problems(
    calls: list[tuple[str, str]], modules: dict[str, nn.Module], unsupported: dict[str, list[str]]
) -> list[str]:
    """Nonlinear functional calls outside a supported module of their own (modules already
    reported as unsupported are not repeated)."""
    funcs: dict[tuple[str, str], int] = Counter()
    for fname, path in calls:
        owner = modules.get(path)
        if owner is not None and type(owner) in SUPPORTED_NON_LINEAR:
            continue
        if owner is not None and type(owner).__name__ in unsupported:
            continue
        funcs[(fname, type(owner).__name__ if owner is not None else "?")] += 1
    return [f"functional {f} called inside {owner} ({n}x)" for (f, owner), n in funcs.items()]


def in_channels(model: nn.Module) -> int:
    """Input channels of ``model``: those of its first ``Conv2d``."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return int(m.in_channels)
    raise UnsupportedEncoderError(f"{type(model).__name__} has no Conv2d to infer input channels")


def check_deeplift(model: nn.Module) -> None:
    """Raise :class:`UnsupportedEncoderError` naming what breaks DeepLIFT on ``model``."""
    problems = deeplift_blockers(model)
    if problems:
        enc = getattr(getattr(model, "encoder", None), "__class__", type(model)).__name__
        arch = type(model).__name__
        raise UnsupportedEncoderError(
            f"DeepLIFT cannot be exact on this model ({arch}, {enc}): " + "; ".join(problems) + ". "
            "Use captum_safe() first, choose an encoder and architecture DeepLIFT supports "
            "(e.g. unet with resnet18/34/50), "
            "or drop deeplift from the methods."
        )
