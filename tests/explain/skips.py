"""The bypassing-skip identity of layer DeepLIFT on smp ``Unet`` (test helpers; imported as
``from explain.skips import ...``).

At any layer ``L`` of a Unet, ``Σ map(L) = Δf − Σ_{s ∈ bypass(L)} C_s`` (see
:mod:`seginterp.explain.completeness`): ``bypass(L)`` (:func:`bypassing_skips`) are the skip
inputs of decoder blocks that carry the input around ``L`` (``{L} ∪ bypass(L)`` is a cut) and
``C_s`` is the DeepLIFT contribution of skip ``s`` at the decoder block it enters
(:func:`skip_contributions`). A skip is named by that block's layer: ``decoder{k}`` receives
encoder stage ``d − k`` (``decoder4`` ← ``encoder1``).

The skip is read where smp's ``UnetDecoderBlock`` receives it, so these helpers refuse other
decoders (Unet++ nests skips, Linknet and FPN add them, DeepLabV3+ concatenates one, PSPNet has
none). :func:`cut_layers` and :func:`modules_are_cut` (module paths) are structural and hold for
any graph. Hooks live only inside the context managers here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from captum.attr import LayerDeepLift
from torch import nn

from seginterp.explain import completeness
from seginterp.explain.completeness import _probe
from seginterp.explain.deeplift_check import UnsupportedEncoderError
from seginterp.explain.layers import get_layer, layer_table


def _require_unet(model: nn.Module) -> None:
    """Refuse a model whose decoder is not smp's ``UnetDecoder`` (the skip identity is Unet's)."""
    dec = type(getattr(model, "decoder", None)).__name__
    if dec != "UnetDecoder":
        raise UnsupportedEncoderError(
            f"the bypassing-skip identity is defined for smp Unet only (skips read where a "
            f"UnetDecoderBlock receives them); {type(model).__name__} has a {dec}. Use "
            "is_cut/cut_layers/modules_are_cut (any architecture) and layer DeepLIFT at cuts only."
        )


def decoder_layers(model: nn.Module) -> list[str]:
    """The decoder layer names of ``model`` (an smp Unet): ``decoder1`` … ``decoder{d}``."""
    return [n for n in layer_table(model) if n.startswith("decoder")]


def _skip_arg(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """The skip input of an smp ``UnetDecoderBlock(feature_map, h, w, skip_connection)`` call."""
    if "skip_connection" in kwargs:
        return kwargs["skip_connection"]
    return args[3] if len(args) > 3 else None


@dataclass(frozen=True)
class _Skip:
    """A skip input as seen by a hook; for a replaced one, whether it depends on the input."""

    tensor: torch.Tensor
    from_input: bool


@contextlib.contextmanager
def _skips(
    model: nn.Module, x: torch.Tensor, replace: Collection[str] = ()
) -> Iterator[dict[str, _Skip]]:
    """Within: each decoder block's skip input as it passes, by decoder layer name; those of the
    blocks in ``replace`` are replaced by detached leaves needing grad (the skip edge is cut,
    and what the leaf reaches can be tested)."""
    _require_unet(model)
    seen: dict[str, _Skip] = {}

    def hook(name: str) -> Any:
        def pre(_m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            skip = _skip_arg(args, kwargs)
            if skip is None:
                return None
            leaf = skip.detach().requires_grad_(True) if name in replace else skip
            seen[name] = _Skip(leaf, name in replace and _reaches(skip, x))
            if name not in replace:
                return None
            if "skip_connection" in kwargs:
                return args, {**kwargs, "skip_connection": leaf}
            return (*args[:3], leaf, *args[4:]), kwargs

        return pre

    handles = [
        get_layer(model, name).register_forward_pre_hook(hook(name), with_kwargs=True)
        for name in decoder_layers(model)
    ]
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


def _reaches(y: torch.Tensor, x: torch.Tensor) -> bool:
    """Whether autograd links ``y`` to the leaf ``x`` (a zero gradient still counts)."""
    if not y.requires_grad:
        return False
    return torch.autograd.grad(y.sum(), x, allow_unused=True, retain_graph=True)[0] is not None


@contextlib.contextmanager
def detached(modules: Sequence[nn.Module]) -> Iterator[None]:
    """Within: the output of each of ``modules`` is replaced by a detached copy."""
    handles = [m.register_forward_hook(lambda _m, _i, out: out.detach()) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def is_cut(
    model: nn.Module,
    layers: str | Sequence[str],
    x: torch.Tensor | None = None,
    *,
    skips: Collection[str] = (),
) -> bool:
    """:func:`seginterp.explain.completeness.is_cut`, where the skip inputs of the decoder layers
    ``skips`` (smp Unet only) are cut too."""
    if not skips:
        return completeness.is_cut(model, layers, x)
    _require_unet(model)
    unknown = sorted(set(skips) - set(decoder_layers(model)))
    if unknown:
        raise ValueError(f"skips {unknown} are not decoder layers: {decoder_layers(model)}")
    names = [layers] if isinstance(layers, str) else list(layers)
    xr = _probe(model, x)
    modules = [get_layer(model, n) for n in names]
    with detached(modules), _skips(model, xr, replace=skips), torch.enable_grad():
        return not _reaches(model(xr), xr)


def modules_are_cut(
    model: nn.Module, paths: str | Sequence[str], x: torch.Tensor | None = None
) -> bool:
    """Whether every path from the input to the output of ``model`` (any architecture) crosses
    the output of the modules at ``paths`` (module paths, e.g. ``decoder.block2``), found on the
    probe input ``x`` (1, C, H, W)."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    xr = _probe(model, x)
    with detached([model.get_submodule(p) for p in paths]), torch.enable_grad():
        return not _reaches(model(xr), xr)


def cut_layers(model: nn.Module, x: torch.Tensor | None = None) -> list[str]:
    """The layer names of ``model`` (an smp Unet) that are cuts, in layer-table order."""
    return [n for n in layer_table(model) if is_cut(model, n, x)]


def skip_channels(model: nn.Module, x: torch.Tensor | None = None) -> dict[str, int]:
    """Decoder layer name -> channels of its skip input, for the blocks that have one."""
    _require_unet(model)
    xr = _probe(model, x)
    with _skips(model, xr) as seen, torch.no_grad():
        model(xr)
    return {name: int(s.tensor.shape[1]) for name, s in seen.items()}


def bypassing_skips(model: nn.Module, layer: str, x: torch.Tensor | None = None) -> list[str]:
    """The skips (by decoder layer name) that bypass ``layer``: with the layer's output detached,
    the skip still depends on the input and the output still depends on the skip."""
    _require_unet(model)
    xr = _probe(model, x)
    every = decoder_layers(model)
    with detached([get_layer(model, layer)]), _skips(model, xr, every) as seen, torch.enable_grad():
        y = model(xr)
        names = [n for n, s in seen.items() if s.from_input]
        if not names or not y.requires_grad:
            return []
        grads = torch.autograd.grad(
            y.sum(), [seen[n].tensor for n in names], allow_unused=True, retain_graph=True
        )
    return [n for n, g in zip(names, grads, strict=True) if g is not None]


def skip_contributions(
    f: nn.Module, model: nn.Module, x: torch.Tensor, baseline: torch.Tensor
) -> dict[str, torch.Tensor]:
    """``C_s`` (B,) per skip (decoder layer name): the DeepLIFT contribution of the skip input of
    that decoder block, from ``baseline`` to ``x`` (B, C, H, W).

    ``f`` wraps ``model`` (e.g. the border-mean logit). Captum's ``LayerDeepLift`` at the input of
    the block's ``attention1``, which smp feeds ``cat([upsampled, skip])``: the last channels.
    """
    out = {}
    for name, c in skip_channels(model, x[:1]).items():
        att = get_layer(model, name).get_submodule("attention1")
        a = LayerDeepLift(f, att).attribute(x, baselines=baseline, attribute_to_layer_input=True)
        a = a[0] if isinstance(a, tuple) else a
        out[name] = a[:, -c:].detach().flatten(1).sum(1)
    return out
