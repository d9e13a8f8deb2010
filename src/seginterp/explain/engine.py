"""Every configured map of one image, each with the pixels it explains.

- linear methods (``method.is_linear(cfg)``): their Captum rule on ``f`` once -> mode ``one-pass``;
  the maps that read a shared pass (:mod:`seginterp.explain.passes`: the gradient pass for
  saliency, input×gradient and Grad-CAM at every layer; the DeepLIFT pass for DeepLIFT at model
  level and at every layer) come from one run of that pass, the others (Integrated Gradients)
  from their own Captum call;
- the others: their exact rules together through :func:`exact_maps` over all border pixels ->
  ``exact``, or over a seeded sample of ``sample_k`` of them -> ``sampled(K)`` (the sample is
  returned with the record: a sampled map explains the mean over the sample, not ``f``).

Maps of methods that claim completeness (DeepLIFT, Integrated Gradients) carry ``Δf = f(x) −
f(x₀)`` and what their sum equals (:attr:`MapRecord.completeness`); layer cuts are found once per
layer (:mod:`seginterp.explain.completeness`).

The engine reads only what each :class:`~seginterp.explain.methods.base.Method` declares.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seginterp.explain.captum_safe import captum_safe, is_captum_safe
from seginterp.explain.completeness import is_cut
from seginterp.explain.config import AttributeConfig
from seginterp.explain.deeplift_check import deeplift_blockers
from seginterp.explain.exact import exact_maps
from seginterp.explain.layers import get_layer, resolve_layer, resolve_layers
from seginterp.explain.methods.base import Method
from seginterp.explain.registry import LAYER_METHODS, METHODS
from seginterp.explain.target import BorderMeanLogit, PixelSet, as_border, make_baseline
from seginterp.model.net import resolve_device

T = TypeVar("T")
Request = tuple[Method, "str | None"]
"""A configured map: the method, and the layer name of a layer method (else None)."""
WantedMap = tuple[str, "str | None", "np.ndarray | torch.Tensor"]
"""A map asked of :meth:`Explainer.maps`: method name, layer name (layer methods, else None), and
the pixels (H, W) bool whose mean logit it explains."""


@dataclass
class MapRecord:
    """One map of one image.

    ``map``: model level (C, H, W) float32 in input channels; layer level (H, W) float32, the
    channel-summed layer map upsampled (bilinear) to the input. ``native``: layer level (h, w)
    at the layer's resolution, else None. ``pixels``: (H, W) bool, the sampled pixels a
    ``sampled(K)`` map explains, else None. ``shared``: produced by one pass together with
    other maps (the exact pass of the nonlinear maps, or a shared gradient or DeepLIFT pass of
    the linear maps); its ``seconds`` is then that whole pass's time, which those maps share (do
    not sum them). ``delta_f``: ``f(x) − f(x₀)`` (float64) for a method that claims
    completeness, else None. ``completeness``: what the map's sum equals:
    ``exact`` (Δf, up to float rounding: DeepLIFT, layer DeepLIFT at a cut layer),
    ``approximate`` (Δf up to the path-integral error: Integrated Gradients), ``partial`` (a layer
    that skip connections bypass: Δf minus the DeepLIFT contributions of those skips), else None.
    """

    method: str
    layer: str | None
    mode: str
    variant: str
    map: np.ndarray
    native: np.ndarray | None
    seconds: float
    n_border: int
    n_explained: int
    pixels: np.ndarray | None = None
    shared: bool = False
    delta_f: float | None = None
    completeness: str | None = None


@contextlib.contextmanager
def quiet_captum() -> Iterator[None]:
    """Silence two Captum notices repeated on every call (inputs made to require gradients;
    DeepLift's hooks on nonlinearities); every other warning passes."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Input Tensor .* did not already require")
        warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
        yield


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _upsample(native: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, 1, h, w) -> (B, 1, H, W), bilinear."""
    if tuple(native.shape[-2:]) == tuple(size):
        return native
    return F.interpolate(native, size=size, mode="bilinear", align_corners=False)


def runnable_methods(
    cfg: AttributeConfig, model: nn.Module
) -> tuple[AttributeConfig, dict[str, str]]:
    """``cfg`` without the methods ``model`` cannot run, and method name -> why, for each removed.

    The DeepLIFT methods (model and layer level) are removed when DeepLIFT cannot be exact on the
    Captum-safe ``model`` (:func:`~seginterp.explain.deeplift_check.deeplift_blockers`: a
    normalisation by the input's own statistics, a product or softmax of the input...); the
    reason names the first offending module. Every other method runs on every model.
    """
    wanted = [METHODS.get(m) for m in cfg.methods]
    wanted += [LAYER_METHODS.get(m) for m in cfg.layer_methods]
    deeplift = sorted({method.name for method in wanted if method.deeplift})
    if not deeplift:
        return cfg, {}
    problems = deeplift_blockers(model)
    if not problems:
        return cfg, {}
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    reason = f"DeepLIFT cannot be exact on {type(model).__name__}: {problems[0]}{more}"
    kept = replace(
        cfg,
        methods=tuple(m for m in cfg.methods if m not in deeplift),
        layer_methods=tuple(m for m in cfg.layer_methods if m not in deeplift),
    )
    return kept, dict.fromkeys(deeplift, reason)


class Explainer:
    """Holds the Captum-safe model, its named layers and the config; explains images.

    A model not made by :func:`captum_safe` is converted (deep copy); a converted one is moved to
    the device in place. ``cfg`` is resolved for the model (:func:`runnable_methods`, ``layers:
    all``, ``guided_gradcam_layer: last``); ``refused``: method -> why it is not run on this model
    (DeepLIFT where it cannot be exact). ``requests``: the maps run, in output order (model
    methods, then layer methods × layers).
    """

    def __init__(
        self,
        model: nn.Module,
        cfg: AttributeConfig,
        *,
        mean_rgb: list[float] | tuple[float, ...] | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        if cfg.deeplift_baseline == "mean" and mean_rgb is None:
            raise ValueError("deeplift_baseline 'mean' needs mean_rgb (meta.json of the dataset)")
        cfg = replace(  # `all` and `last`: this model's
            cfg,
            layers=resolve_layers(cfg.layers, model),
            guided_gradcam_layer=resolve_layer(cfg.guided_gradcam_layer, model),
        )
        safe = model if is_captum_safe(model) else captum_safe(model)
        cfg, self.refused = runnable_methods(cfg, safe)
        self.cfg = cfg
        self.device = torch.device(device) if device is not None else resolve_device(cfg.device)
        self.requests: list[Request] = [(METHODS.get(m), None) for m in cfg.methods]
        self.requests += [(LAYER_METHODS.get(m), n) for m in cfg.layer_methods for n in cfg.layers]
        self.model = safe.to(self.device).eval()
        self.mean_rgb = mean_rgb
        self._layers: dict[str, nn.Module] = {}
        self._cuts: dict[str, bool] = {}
        names = list(cfg.layers)
        for method, layer in self.requests:
            if not method.is_linear(cfg):
                names += method.exact_rule(cfg, layer).layers
        for name in names:  # fail early on a layer this model lacks
            self.layer(name)

    def layer(self, name: str) -> nn.Module:
        if name not in self._layers:
            self._layers[name] = get_layer(self.model, name)
        return self._layers[name]

    def is_cut(self, name: str, x: torch.Tensor | None = None) -> bool:
        """Whether every input-to-output path crosses layer ``name`` (cached; ``x`` (1, C, H, W)
        is the probe input, a 64 px one by default)."""
        if name not in self._cuts:
            self._cuts[name] = is_cut(self.model, name, x)
        return self._cuts[name]

    def completeness(
        self, method: Method, layer: str | None, x: torch.Tensor | None = None
    ) -> str | None:
        """What the sum of ``method``'s map at ``layer`` equals (see :class:`MapRecord`)."""
        if method.completeness is None or layer is None or self.is_cut(layer, x):
            return method.completeness
        return "partial"

    def baseline(self, x: torch.Tensor) -> torch.Tensor:
        """The reference for ``x`` (B, C, H, W) under ``cfg.deeplift_baseline``."""
        return make_baseline(
            x, self.cfg.deeplift_baseline, mean_rgb=self.mean_rgb, blur_sigma=self.cfg.blur_sigma
        )

    def explain(
        self, x: torch.Tensor | np.ndarray, border: np.ndarray | torch.Tensor, *, key: int = 0
    ) -> list[MapRecord]:
        """All configured maps of one image, in the order of ``requests``.

        Args:
            x: (1, C, H, W) input in [0, 1].
            border: (H, W) bool, the frozen border ``B`` (non-empty).
            key: seeds the border sample (with ``cfg.seed``); use the image's row index.
        """
        cfg = self.cfg
        x = self._input(x)
        if x.shape[0] != 1:
            raise ValueError(f"explain takes one image (1, C, H, W), got {tuple(x.shape)}")
        b = as_border(border)
        if tuple(b.shape) != tuple(x.shape[-2:]):
            raise ValueError(f"border {tuple(b.shape)} vs image {tuple(x.shape[-2:])}")
        f = BorderMeanLogit(self.model, b)
        base = self.baseline(x)
        size = (x.shape[-2], x.shape[-1])
        out: dict[int, MapRecord] = {}
        passes, alone, nonlinear = self._plan(self.requests)
        whole = PixelSet.whole(b.cpu().numpy(), "one-pass")
        for i in alone:
            method, layer = self.requests[i]
            m, dt = self._timed(self._one_pass, method, layer, f, x, base)
            out[i] = _record(method, layer, cfg, m, size, whole, dt, f.n_border)
        for ids in passes:
            todo = [self.requests[i] for i in ids]
            maps, dt = self._timed(self._shared, todo, f, x, base)
            for i, (method, layer), m in zip(ids, todo, maps, strict=True):
                out[i] = _record(method, layer, cfg, m, size, whole, dt, f.n_border, len(ids) > 1)
        if nonlinear:
            pixels = self._pixel_set(b, key)
            todo = [self.requests[i] for i in nonlinear]
            maps, dt = self._timed(self._exact, todo, x, pixels.tensor(self.device))
            for i, m in zip(nonlinear, maps, strict=True):
                method, layer = self.requests[i]
                shared = len(maps) > 1
                out[i] = _record(method, layer, cfg, m, size, pixels, dt, f.n_border, shared)
        records = [out[i] for i in range(len(self.requests))]
        self._annotate(records, f, x, base)
        return records

    def map(
        self,
        method: str,
        x: torch.Tensor | np.ndarray,
        border: np.ndarray | torch.Tensor,
        *,
        layer: str | None = None,
        baseline: torch.Tensor | None = None,
        native: bool = False,
    ) -> torch.Tensor:
        """One map of ``method`` (at ``layer`` for layer methods) for each input of a batch.

        The map is exact over ``border``: one pass for linear methods, every pixel of ``border``
        otherwise (never sampled: to re-score a ``sampled(K)`` map, pass its ``pixels`` mask as
        ``border``). ``baseline`` defaults to ``cfg.deeplift_baseline`` applied to ``x``.

        Returns:
            model level (B, C, H, W); layer level (B, 1, H, W) upsampled, or (B, 1, h, w) with
            ``native=True``. Detached, on the explainer's device.
        """
        x = self._input(x)
        spec = METHODS.get(method) if layer is None else LAYER_METHODS.get(method)
        b = as_border(border)
        f = BorderMeanLogit(self.model, b)
        base = self.baseline(x) if baseline is None else baseline.to(x)
        if spec.is_linear(self.cfg):
            with quiet_captum():
                m = self._one_pass(spec, layer, f, x, base)
        else:
            pixels = PixelSet.whole(b.cpu().numpy()).tensor(self.device)
            parts = [self._exact([(spec, layer)], x[i : i + 1], pixels)[0] for i in range(len(x))]
            m = torch.cat(parts, dim=0)
        if layer is not None and not native:
            m = _upsample(m, (x.shape[-2], x.shape[-1]))
        return m

    def maps(self, x: torch.Tensor | np.ndarray, wanted: Sequence[WantedMap]) -> list[torch.Tensor]:
        """Many maps of each input of a batch, each equal to :meth:`map` (upsampled), sharing
        passes: per pixel set, the linear maps that read a shared pass from one run of it
        (:mod:`seginterp.explain.passes`), and the nonlinear maps from one :func:`exact_maps` per
        input.

        Args:
            x: (B, C, H, W) inputs in [0, 1].
            wanted: ``(method, layer or None, pixels (H, W) bool)`` per map.

        Returns:
            one map per entry of ``wanted``, in order, as :meth:`map` returns it: model level
            (B, C, H, W), layer level (B, 1, H, W). Detached, on the explainer's device.
        """
        x = self._input(x)
        size = (x.shape[-2], x.shape[-1])
        groups: dict[tuple[tuple[int, ...], bytes], list[int]] = {}
        for i, (_, _, pixels) in enumerate(wanted):
            p = np.asarray(pixels.cpu() if isinstance(pixels, torch.Tensor) else pixels, bool)
            groups.setdefault((p.shape, p.tobytes()), []).append(i)
        base = self.baseline(x)
        out: dict[int, torch.Tensor] = {}
        with quiet_captum():
            for group in groups.values():
                b = as_border(wanted[group[0]][2])
                f = BorderMeanLogit(self.model, b)
                requests = [_request(*wanted[i][:2]) for i in group]
                passes, alone, nonlinear = self._plan(requests)
                for k in alone:
                    out[group[k]] = self._one_pass(*requests[k], f, x, base)
                for ks in passes:
                    maps = self._shared([requests[k] for k in ks], f, x, base)
                    out |= {group[k]: m for k, m in zip(ks, maps, strict=True)}
                if nonlinear:
                    todo = [requests[k] for k in nonlinear]
                    pixels = PixelSet.whole(b.cpu().numpy()).tensor(self.device)
                    parts = [self._exact(todo, x[j : j + 1], pixels) for j in range(len(x))]
                    for n, k in enumerate(nonlinear):
                        out[group[k]] = torch.cat([p[n] for p in parts], dim=0)
        return [
            out[i] if layer is None else _upsample(out[i], size)
            for i, (_, layer, _) in enumerate(wanted)
        ]

    def _annotate(
        self, records: list[MapRecord], f: nn.Module, x: torch.Tensor, base: torch.Tensor
    ) -> None:
        """Set ``delta_f`` and ``completeness`` of the records (in ``requests`` order) whose
        method claims completeness: one forward of ``x`` (1, C, H, W) and ``base`` together."""
        pairs = zip(records, self.requests, strict=True)
        claims = [(rec, method) for rec, (method, _) in pairs if method.completeness]
        if not claims:
            return
        with torch.no_grad():
            fx, f0 = f(torch.cat([x, base])).double().tolist()
        for rec, method in claims:
            rec.delta_f = fx - f0
            rec.completeness = self.completeness(method, rec.layer, x)

    def _input(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        t = torch.as_tensor(x).to(self.device, torch.float32)
        if t.ndim != 4:
            raise ValueError(f"x must be (B, C, H, W), got {tuple(t.shape)}")
        return t.detach()

    def _pixel_set(self, border: torch.Tensor, key: int) -> PixelSet:
        """The pixels nonlinear maps average over: all of ``border`` or a seeded sample."""
        b = border.cpu().numpy()
        if self.cfg.nonlinear_mode == "sampled":
            return PixelSet.sample(b, self.cfg.sample_k, self.cfg.seed, key)
        return PixelSet.whole(b)

    def _plan(self, requests: Sequence[Request]) -> tuple[list[list[int]], list[int], list[int]]:
        """Indices of ``requests`` by how they are computed: one group per shared pass (the
        linear maps that read it), the linear maps computed alone, the nonlinear maps."""
        passes: dict[str, list[int]] = {}
        alone: list[int] = []
        nonlinear: list[int] = []
        for i, (method, _) in enumerate(requests):
            if not method.is_linear(self.cfg):
                nonlinear.append(i)
            elif method.shared is not None:
                passes.setdefault(method.shared.source.name, []).append(i)
            else:
                alone.append(i)
        return list(passes.values()), alone, nonlinear

    def _one_pass(
        self, method: Method, layer: str | None, f: nn.Module, x: torch.Tensor, base: torch.Tensor
    ) -> torch.Tensor:
        """The one-pass map of ``method`` (detached): read from its shared pass when it has one
        (so a map alone equals the same map made together with others), else its Captum call."""
        if method.shared is not None:
            return self._shared([(method, layer)], f, x, base)[0]
        module = None if layer is None else self.layer(layer)
        return method.run_one_pass(f, x, base, self.cfg, module).detach()

    def _shared(
        self, requests: Sequence[Request], f: nn.Module, x: torch.Tensor, base: torch.Tensor
    ) -> list[torch.Tensor]:
        """The maps of ``requests`` (all reading one shared pass) from one run of that pass, at
        every layer they name (detached, in order)."""
        sources = {method.shared.source for method, _ in requests if method.shared is not None}
        if len(sources) != 1 or len(requests) == 0:
            raise RuntimeError(f"maps of one shared pass expected, got {requests}")
        names = list(dict.fromkeys(layer for _, layer in requests if layer is not None))
        result = sources.pop().run(f, x, base, {name: self.layer(name) for name in names})
        return [method.read_shared(result, layer).detach() for method, layer in requests]

    def _exact(
        self, requests: Sequence[Request], x: torch.Tensor, pixels: torch.Tensor
    ) -> list[torch.Tensor]:
        """The exact maps of ``requests`` for ``x`` (1, C, H, W), averaged over ``pixels``."""
        rules = [method.exact_rule(self.cfg, layer) for method, layer in requests]
        modules = {name: self.layer(name) for rule in rules for name in rule.layers}
        return exact_maps(self.model, x, pixels, rules, modules, chunk_size=self.cfg.chunk_size)

    def _timed(self, fn: Callable[..., T], *args: Any) -> tuple[T, float]:
        """``fn(*args)`` and its wall time (the device synchronized before and after)."""
        _sync(self.device)
        t0 = time.perf_counter()
        with quiet_captum():
            value = fn(*args)
        _sync(self.device)
        return value, time.perf_counter() - t0


def _request(method: str, layer: str | None) -> Request:
    """The registered method ``method`` (a layer method when ``layer`` is set) and ``layer``."""
    return (METHODS.get(method) if layer is None else LAYER_METHODS.get(method)), layer


def _record(
    method: Method,
    layer: str | None,
    cfg: AttributeConfig,
    m: torch.Tensor,
    size: tuple[int, int],
    pixels: PixelSet,
    seconds: float,
    n_border: int,
    shared: bool = False,
) -> MapRecord:
    """The record of map ``m``: model level (1, C, H, W), layer level (1, 1, h, w)."""
    if layer is None:
        arr, native = m[0].float().cpu().numpy(), None
    else:
        arr = _upsample(m, size)[0, 0].float().cpu().numpy()
        native = m[0, 0].float().cpu().numpy()
    return MapRecord(
        method.name,
        layer,
        mode=pixels.mode,
        variant=method.variant(cfg),
        map=arr,
        native=native,
        seconds=seconds,
        n_border=n_border,
        n_explained=pixels.n,
        pixels=pixels.mask,
        shared=shared,
    )
