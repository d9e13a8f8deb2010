"""Every configured map of one image, each with its mode (DESIGN §2).

- linear methods (``spec.linear(cfg)``): Captum on ``f`` once -> mode ``one-pass``;
- Guided Backprop, Guided Grad-CAM, per-pixel-ReLU Grad-CAM: :func:`exact_maps` over all border
  pixels -> ``exact``, or over a seeded sample of ``sample_k`` of them -> ``sampled(K)`` (the
  sample is returned with the record: a sampled map explains the mean over the sample, not ``f``).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..layers import captum_safe, check_deeplift, get_layer, is_captum_safe
from ..model import resolve_device
from . import LAYER_METHODS, METHODS
from .config import AttributeConfig
from .exact import exact_maps
from .methods import MethodSpec
from .target import BorderMeanLogit, _border_tensor, make_baseline


@dataclass
class MapRecord:
    """One map of one image.

    ``map``: model level (C, H, W) float32 in input channels; layer level (H, W) float32, the
    channel-summed layer map upsampled (bilinear) to the input. ``native``: layer level (h, w)
    at the layer's resolution, else None. ``pixels``: (H, W) bool, the sampled pixels a
    ``sampled(K)`` map explains, else None. ``shared``: produced by one exact pass together with
    other maps, whose ``seconds`` it shares.
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

    @property
    def key(self) -> str:
        """``model/<method>`` or ``layer/<method>/<layer>`` (npz key)."""
        return f"model/{self.method}" if self.layer is None else f"layer/{self.method}/{self.layer}"


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


class Explainer:
    """Holds the Captum-safe model, its named layers and the config; explains images.

    A model not made by :func:`captum_safe` is converted (deep copy); a converted one is moved to
    the device in place. With DeepLIFT among the methods, a model on which DeepLIFT cannot be
    exact is refused (:class:`~seginterp.layers.UnsupportedEncoderError`).
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
        self.cfg = cfg
        self.device = torch.device(device) if device is not None else resolve_device(cfg.device)
        safe = model if is_captum_safe(model) else captum_safe(model)
        if cfg.uses_deeplift():
            check_deeplift(safe)
        self.model = safe.to(self.device).eval()
        self.mean_rgb = mean_rgb
        self._layers: dict[str, nn.Module] = {}
        names = list(cfg.layers)
        if "guided_gradcam" in cfg.methods:
            names.append(cfg.guided_gradcam_layer)
        for name in names:  # fail early on a layer this model lacks
            self.layer(name)

    def layer(self, name: str) -> nn.Module:
        if name not in self._layers:
            self._layers[name] = get_layer(self.model, name)
        return self._layers[name]

    def baseline(self, x: torch.Tensor) -> torch.Tensor:
        """The reference for ``x`` (B, C, H, W) under ``cfg.deeplift_baseline``."""
        return make_baseline(
            x, self.cfg.deeplift_baseline, mean_rgb=self.mean_rgb, blur_sigma=self.cfg.blur_sigma
        )

    def _input(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        t = torch.as_tensor(x).to(self.device, torch.float32)
        if t.ndim != 4:
            raise ValueError(f"x must be (B, C, H, W), got {tuple(t.shape)}")
        return t.detach()

    def _pixels(self, border: torch.Tensor, key: int) -> tuple[np.ndarray, str, np.ndarray | None]:
        """Flat indices of the pixels nonlinear maps average over, the mode, the sample mask."""
        flat = np.flatnonzero(border.cpu().numpy().ravel())
        k = self.cfg.sample_k
        if self.cfg.nonlinear_mode == "sampled" and k < len(flat):
            rng = np.random.default_rng([self.cfg.seed, int(key)])
            chosen = np.sort(rng.choice(flat, size=k, replace=False))
            mask = np.zeros(border.numel(), dtype=bool)
            mask[chosen] = True
            return chosen, f"sampled({k})", mask.reshape(tuple(border.shape))
        return flat, "exact", None

    def explain(
        self, x: torch.Tensor | np.ndarray, border: np.ndarray | torch.Tensor, *, key: int = 0
    ) -> list[MapRecord]:
        """All configured maps of one image.

        Args:
            x: (1, C, H, W) input in [0, 1].
            border: (H, W) bool, the frozen border ``B`` (non-empty).
            key: seeds the border sample (with ``cfg.seed``); use the image's row index.
        """
        cfg = self.cfg
        x = self._input(x)
        if x.shape[0] != 1:
            raise ValueError(f"explain takes one image (1, C, H, W), got {tuple(x.shape)}")
        b = _border_tensor(border)
        if tuple(b.shape) != tuple(x.shape[-2:]):
            raise ValueError(f"border {tuple(b.shape)} vs image {tuple(x.shape[-2:])}")
        f = BorderMeanLogit(self.model, b)
        n = f.n_border
        base = self.baseline(x)
        size = (x.shape[-2], x.shape[-1])
        out: dict[str, MapRecord] = {}

        def record(spec: MethodSpec, layer: str | None, m: torch.Tensor, **kw: Any) -> None:
            if layer is None:
                arr, native = m[0].float().cpu().numpy(), None
            else:
                arr = _upsample(m, size)[0, 0].float().cpu().numpy()
                native = m[0, 0].float().cpu().numpy()
            rec = MapRecord(
                spec.name, layer, variant=spec.variant(cfg), map=arr, native=native, **kw
            )
            out[rec.key] = rec

        def timed(fn: Any, *args: Any) -> tuple[torch.Tensor, float]:
            _sync(self.device)
            t0 = time.perf_counter()
            with quiet_captum():
                value = fn(*args).detach()
            _sync(self.device)
            return value, time.perf_counter() - t0

        order: list[str] = []
        exact_req: dict[str, Any] = {"gradcam_layers": {}}
        for name in cfg.methods:
            spec = METHODS.get(name)
            order.append(f"model/{name}")
            if spec.linear(cfg):
                m, dt = timed(spec.one_pass, f, x, base, cfg)
                record(spec, None, m, mode="one-pass", seconds=dt, n_border=n, n_explained=n)
            elif name == "guided_backprop":
                exact_req["guided_backprop"] = True
            elif name == "guided_gradcam":
                lname = cfg.guided_gradcam_layer
                exact_req["guided_gradcam_layer"] = (lname, self.layer(lname))
            else:  # pragma: no cover - registry and engine out of sync
                raise RuntimeError(f"no exact engine for method {name!r}")
        for name in cfg.layer_methods:
            spec = LAYER_METHODS.get(name)
            for lname in cfg.layers:
                order.append(f"layer/{name}/{lname}")
                if spec.linear(cfg):
                    m, dt = timed(spec.one_pass, f, self.layer(lname), x, base, cfg)
                    record(spec, lname, m, mode="one-pass", seconds=dt, n_border=n, n_explained=n)
                elif name == "gradcam":
                    exact_req["gradcam_layers"][lname] = self.layer(lname)
                else:  # pragma: no cover
                    raise RuntimeError(f"no exact engine for layer method {name!r}")
        if len(exact_req) > 1 or exact_req["gradcam_layers"]:
            flat, mode, mask = self._pixels(b, key)
            pixels = torch.as_tensor(flat, dtype=torch.long, device=self.device)
            maps, dt = self._timed_exact(x, pixels, exact_req)
            for k, m in maps.items():
                spec = METHODS.get(k) if "/" not in k else LAYER_METHODS.get("gradcam")
                layer = None if "/" not in k else k.split("/", 1)[1]
                record(
                    spec,
                    layer,
                    m,
                    mode=mode,
                    seconds=dt,
                    n_border=n,
                    n_explained=len(flat),
                    pixels=mask,
                    shared=len(maps) > 1,
                )
        return [out[k] for k in order]

    def _timed_exact(
        self, x: torch.Tensor, pixels: torch.Tensor, req: dict[str, Any]
    ) -> tuple[dict[str, torch.Tensor], float]:
        _sync(self.device)
        t0 = time.perf_counter()
        maps = exact_maps(self.model, x, pixels, chunk_size=self.cfg.chunk_size, **req)
        _sync(self.device)
        return maps, time.perf_counter() - t0

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
        cfg = self.cfg
        x = self._input(x)
        spec = METHODS.get(method) if layer is None else LAYER_METHODS.get(method)
        module = None if layer is None else self.layer(layer)
        f = BorderMeanLogit(self.model, _border_tensor(border))
        base = self.baseline(x) if baseline is None else baseline.to(x)
        if spec.linear(cfg):
            with quiet_captum():
                if module is None:
                    m = spec.one_pass(f, x, base, cfg)
                else:
                    m = spec.one_pass(f, module, x, base, cfg)
            m = m.detach()
        else:
            pixels = torch.as_tensor(
                np.flatnonzero(_border_tensor(border).cpu().numpy().ravel()), device=self.device
            )
            if method == "guided_backprop":
                req: dict[str, Any] = {"guided_backprop": True}
            elif method == "guided_gradcam":
                lname = cfg.guided_gradcam_layer
                req = {"guided_gradcam_layer": (lname, self.layer(lname))}
            elif method == "gradcam" and layer is not None and module is not None:
                req = {"gradcam_layers": {layer: module}}
            else:  # pragma: no cover
                raise RuntimeError(f"no exact engine for {method!r}")
            parts = [
                exact_maps(self.model, x[i : i + 1], pixels, chunk_size=cfg.chunk_size, **req)
                for i in range(x.shape[0])
            ]
            key = method if layer is None else f"gradcam/{layer}"
            m = torch.cat([p[key] for p in parts], dim=0)
        if layer is not None and not native:
            m = _upsample(m, (x.shape[-2], x.shape[-1]))
        return m


def explain_image(
    model: nn.Module,
    x: torch.Tensor | np.ndarray,
    border: np.ndarray | torch.Tensor,
    cfg: AttributeConfig,
    *,
    mean_rgb: list[float] | tuple[float, ...] | None = None,
    key: int = 0,
) -> list[MapRecord]:
    """Every configured map of one image (1, C, H, W); see :meth:`Explainer.explain`.

    Converts ``model`` with :func:`captum_safe` on each call unless it already is: for many images
    build one :class:`Explainer`.
    """
    return Explainer(model, cfg, mean_rgb=mean_rgb).explain(x, border, key=key)


def explain_map(
    model: nn.Module,
    x: torch.Tensor | np.ndarray,
    border: np.ndarray | torch.Tensor,
    cfg: AttributeConfig,
    method: str,
    layer: str | None = None,
    *,
    mean_rgb: list[float] | tuple[float, ...] | None = None,
    baseline: torch.Tensor | None = None,
) -> torch.Tensor:
    """One map of (method, layer) for inputs (B, C, H, W) and a frozen border; see
    :meth:`Explainer.map`."""
    return Explainer(model, cfg, mean_rgb=mean_rgb).map(
        method, x, border, layer=layer, baseline=baseline
    )
