"""Every configured map of one image, each with the pixels it explains; maps of a batch.

:meth:`Explainer.explain`, :meth:`Explainer.map` and :meth:`Explainer.maps` hand their maps, each
with the pixel set it explains, to one dispatcher (:meth:`Explainer._compute`), per pixel set:

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
from torch import nn

from seginterp.explain.captum_safe import captum_safe, is_captum_safe
from seginterp.explain.completeness import cuts
from seginterp.explain.config import AttributeConfig, runnable_methods
from seginterp.explain.exact import exact_maps
from seginterp.explain.layers import get_layer, resolve_layer, resolve_layers
from seginterp.explain.methods.base import Method
from seginterp.explain.records import MapRecord, upsample
from seginterp.explain.registry import LAYER_METHODS, METHODS
from seginterp.explain.target import BorderMeanLogit, PixelSet, as_border, make_baseline
from seginterp.model.net import resolve_device

T = TypeVar("T")
Request = tuple[Method, "str | None"]
"""A configured map: the method, and the layer name of a layer method (else None)."""
WantedMap = tuple[str, "str | None", "np.ndarray | torch.Tensor"]
"""A map asked of :meth:`Explainer.maps`: method name, layer name (layer methods, else None), and
the pixels (H, W) bool whose mean logit it explains."""
Job = tuple[Method, "str | None", PixelSet]
"""A map :meth:`Explainer._compute` makes: a request and the pixels it explains."""


@dataclass(frozen=True)
class _Done:
    """A map made by :meth:`Explainer._compute` (detached; model level (B, C, H, W), layer level
    (B, 1, h, w)), the seconds of the run that made it, whether that run made other maps too."""

    map: torch.Tensor
    seconds: float
    shared: bool


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
            guided_gradcam_layer=resolve_layer(cfg.guided_gradcam_layer, model)
            if "guided_gradcam" in cfg.methods
            else cfg.guided_gradcam_layer,
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
        """Whether every input-to-output path crosses layer ``name`` (cached, found for every
        configured layer from one forward of the probe input ``x`` (1, C, H, W), a 64 px one by
        default)."""
        if name not in self._cuts:
            names = [n for n in dict.fromkeys([*self.cfg.layers, name]) if n not in self._cuts]
            self._cuts |= dict(zip(names, cuts(self.model, [[n] for n in names], x), strict=True))
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
        """All configured maps of one image, in the order of ``requests``: the linear maps of
        ``f`` over ``border``, the nonlinear ones over :meth:`_pixel_set` (see :meth:`_compute`).

        Args:
            x: (1, C, H, W) input in [0, 1].
            border: (H, W) bool, the frozen border ``B`` (non-empty).
            key: seeds the border sample (with ``cfg.seed``); use the image's row index.
        """
        x = self._input(x)
        if x.shape[0] != 1:
            raise ValueError(f"explain takes one image (1, C, H, W), got {tuple(x.shape)}")
        b = as_border(border)
        if tuple(b.shape) != tuple(x.shape[-2:]):
            raise ValueError(f"border {tuple(b.shape)} vs image {tuple(x.shape[-2:])}")
        f = BorderMeanLogit(self.model, b)
        base = self.baseline(x)
        whole, sample = PixelSet.whole(b.cpu().numpy(), "one-pass"), self._pixel_set(b, key)
        jobs = [(m, n, whole if m.is_linear(self.cfg) else sample) for m, n in self.requests]
        records = [
            MapRecord.of(m, n, self.cfg, d.map, p, d.seconds, d.shared, f.n_border)
            for (m, n, p), d in zip(jobs, self._compute(jobs, x, base), strict=True)
        ]
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
        base = self.baseline(x) if baseline is None else baseline.to(x)
        job = (*_request(method, layer), _whole(border))
        m = self._compute([job], x, base)[0].map
        return m if layer is None or native else upsample(m, (x.shape[-2], x.shape[-1]))

    def maps(self, x: torch.Tensor | np.ndarray, wanted: Sequence[WantedMap]) -> list[torch.Tensor]:
        """Many maps of each input of a batch, each equal to :meth:`map` (upsampled), sharing
        passes per pixel set (see :meth:`_compute`).

        Args:
            x: (B, C, H, W) inputs in [0, 1].
            wanted: ``(method, layer or None, pixels (H, W) bool)`` per map.

        Returns:
            one map per entry of ``wanted``, in order, as :meth:`map` returns it: model level
            (B, C, H, W), layer level (B, 1, H, W). Detached, on the explainer's device.
        """
        x = self._input(x)
        jobs = [(*_request(m, n), _whole(p)) for m, n, p in wanted]
        size = (x.shape[-2], x.shape[-1])
        return [
            done.map if layer is None else upsample(done.map, size)
            for (_, layer, _), done in zip(
                jobs, self._compute(jobs, x, self.baseline(x)), strict=True
            )
        ]

    def _compute(self, jobs: Sequence[Job], x: torch.Tensor, base: torch.Tensor) -> list[_Done]:
        """The maps of ``jobs`` for each input of ``x`` (B, C, H, W), in order; the dispatcher
        behind :meth:`explain`, :meth:`map` and :meth:`maps`.

        Per pixel set (in order of first use), its linear maps explain its mean logit ``f``
        (:class:`BorderMeanLogit`): each shared pass (:mod:`seginterp.explain.passes`) runs once
        for every map that reads it, at every layer they name; a linear map without a shared
        rule is its own Captum call (``baseline`` ``base``). Its nonlinear maps are exact over
        it, all of them from one :func:`exact_maps` per input. A result carries the seconds of
        the run that made it and whether other maps came from that run (``shared``).
        """
        groups: dict[tuple[tuple[int, ...], bytes], list[int]] = {}
        for i, (_, _, pixels) in enumerate(jobs):
            groups.setdefault(pixels.key, []).append(i)
        out: dict[int, _Done] = {}
        for ids in groups.values():
            pixels = jobs[ids[0]][2]
            f = BorderMeanLogit(self.model, pixels.border)
            linear = [i for i in ids if jobs[i][0].is_linear(self.cfg)]
            runs = [[i] for i in linear if jobs[i][0].shared is None]
            passes: dict[str, list[int]] = {}
            for i in linear:
                if (shared := jobs[i][0].shared) is not None:
                    passes.setdefault(shared.source.name, []).append(i)
            for run in [*runs, *passes.values()]:
                maps, dt = self._timed(self._linear, [jobs[i][:2] for i in run], f, x, base)
                out |= {i: _Done(m, dt, len(run) > 1) for i, m in zip(run, maps, strict=True)}
            nonlinear = [i for i in ids if i not in linear]
            if nonlinear:
                todo = [jobs[i][:2] for i in nonlinear]
                maps, dt = self._timed(self._exact, todo, x, pixels.tensor(self.device))
                shared = len(nonlinear) > 1
                out |= {i: _Done(m, dt, shared) for i, m in zip(nonlinear, maps, strict=True)}
        return [out[i] for i in range(len(jobs))]

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

    def _linear(
        self, requests: Sequence[Request], f: nn.Module, x: torch.Tensor, base: torch.Tensor
    ) -> list[torch.Tensor]:
        """The one-pass maps of ``requests`` (detached, in order): one map without a shared rule
        from its Captum call, else maps that all read one shared pass from one run of it (so a
        map alone equals the same map made together with others)."""
        method, layer = requests[0]
        if method.shared is None:
            module = None if layer is None else self.layer(layer)
            return [method.run_one_pass(f, x, base, self.cfg, module).detach()]
        names = list(dict.fromkeys(n for _, n in requests if n is not None))
        result = method.shared.source.run(f, x, base, {n: self.layer(n) for n in names})
        return [m.read_shared(result, n).detach() for m, n in requests]

    def _exact(
        self, requests: Sequence[Request], x: torch.Tensor, pixels: torch.Tensor
    ) -> list[torch.Tensor]:
        """The exact maps of ``requests`` for ``x`` (B, C, H, W), averaged over ``pixels``: one
        :func:`exact_maps` per input for all of them."""
        rules = [method.exact_rule(self.cfg, layer) for method, layer in requests]
        modules = {name: self.layer(name) for rule in rules for name in rule.layers}
        parts = [
            exact_maps(
                self.model, x[j : j + 1], pixels, rules, modules, chunk_size=self.cfg.chunk_size
            )
            for j in range(len(x))
        ]
        return [torch.cat([p[i] for p in parts]) for i in range(len(rules))]

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


def _whole(pixels: np.ndarray | torch.Tensor) -> PixelSet:
    """Every pixel of ``pixels`` (H, W) bool, as an ``exact`` pixel set."""
    return PixelSet.whole(as_border(pixels).cpu().numpy())
