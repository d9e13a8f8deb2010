"""Exact nonlinear maps vs Captum's replicated-batch loop (not a test; prints, asserts nothing).

On the briefly trained resnet18 U-Net of bench/attribution.py (Captum-safe copy), at each size:
  engine      exact_maps over the first --pixels border pixels (one forward, chunks of
              --chunk batched one-hot cotangents), for Guided Backprop (and Guided Grad-CAM);
  replicated  Captum's replicated-batch loop over the same pixels (k = --replicated copies of
              the image per call, one target each).
  func        (Guided Backprop only; NOT the pipeline's code, not bitwise equal: ~1e-7 relative)
              the same cotangents through torch.func.vjp + torch.func.vmap: real batch rules
              (the backward of a chunk is one batched convolution per layer), whereas
              autograd.grad(is_grads_batched=True) uses the legacy vmap, which falls back to a
              loop of batch-1 backwards for convolution_backward and native_batch_norm_backward.
Both are timed on the same pixels, interleaved, best of --repeat; `repl/eng` is the speedup.
`repl/eng @|B|` extrapolates to the whole border (the engine's forward is paid once per image;
the per-chunk cost scales with |B|). --profile prints where the time of one run goes
(torch.profiler, record_function per phase, self CPU time per op).
Usage: python bench/exact.py --sizes 128 256 [--threads 2] [--pixels 64] [--chunk 16 32 64]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from attribution import LAYER, blobs, train_briefly
from captum.attr import GuidedBackprop, GuidedGradCam
from torch.profiler import ProfilerActivity, profile, record_function

from seginterp.explain.borders import border_pixels
from seginterp.explain.captum_safe import captum_safe
from seginterp.explain.config import AttributeConfig
from seginterp.explain.exact import exact_maps, guided_relus
from seginterp.explain.layers import get_layer
from seginterp.explain.registry import METHODS
from seginterp.explain.target import PixelLogits


def best(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pixels", type=int, default=64, help="border pixels timed")
    ap.add_argument("--chunk", type=int, nargs="+", default=[32], help="engine chunk sizes")
    ap.add_argument("--replicated", type=int, default=16, help="copies per replicated batch")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=["guided_backprop"])
    ap.add_argument("--profile", action="store_true", help="profile one run of each")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", UserWarning)
    print(f"threads={args.threads}  torch={torch.__version__}  cpu", flush=True)
    for size in args.sizes:
        run_size(size, args)


def run_size(size: int, args: argparse.Namespace) -> None:
    model = captum_safe(train_briefly(size))
    imgs, masks = blobs(1, size, seed=1)
    x = imgs[:1]
    border = border_pixels(masks[0, 0].numpy() > 0)
    idx = np.flatnonzero(border.ravel())
    n_b = len(idx)
    sub = idx[:: max(1, n_b // args.pixels)][: args.pixels]
    pixels = torch.as_tensor(sub, dtype=torch.long)
    pix = PixelLogits(model)
    layer = get_layer(model, LAYER)
    cfg = AttributeConfig(
        methods=(), layer_methods=(), layers=(), device="cpu", guided_gradcam_layer=LAYER
    )
    print(f"\n== {size} px, |B| = {n_b}, {len(sub)} pixels timed", flush=True)
    for name in args.methods:
        rule = METHODS.get(name).exact_rule(cfg, None)
        mods = {n: get_layer(model, n) for n in rule.layers}
        captum: Callable[[torch.Tensor, list[int]], torch.Tensor] = (
            GuidedBackprop(pix).attribute
            if name == "guided_backprop"
            else lambda xs, t: GuidedGradCam(pix, layer).attribute(xs, target=t)
        )

        def replicated(captum=captum) -> None:
            k = args.replicated
            for s in range(0, len(sub), k):
                t = [int(q) for q in sub[s : s + k]]
                captum(x.expand(len(t), *x.shape[1:]).clone(), target=t)

        def forward_only(rule=rule, mods=mods) -> None:
            exact_maps(model, x, pixels[:1], [rule], mods, chunk_size=1)

        variants = {
            f"engine chunk={c}": (
                lambda c=c, rule=rule, mods=mods: exact_maps(
                    model, x, pixels, [rule], mods, chunk_size=c
                )
            )
            for c in args.chunk
        }
        if name == "guided_backprop":
            variants["func"] = lambda c=args.chunk[0]: func_guided(model, x, pixels, c)
            ref = exact_maps(model, x, pixels, [rule], mods, chunk_size=args.chunk[0])[0]
            alt = func_guided(model, x, pixels, args.chunk[0])
            print(
                f"   func vs engine: bitwise equal {torch.equal(ref, alt)}, max |diff| "
                f"{(ref - alt).abs().max().item():.2e}, relative L2 "
                f"{((ref - alt).norm() / ref.norm()).item():.2e}",
                flush=True,
            )
        variants["replicated"] = replicated
        variants["engine 1 px (fwd+1 bwd)"] = forward_only
        for fn in variants.values():
            fn()  # warm-up
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.repeat):
            for k, fn in variants.items():
                times[k].append(best(fn))
        t = {k: min(v) for k, v in times.items()}
        t_rep = t["replicated"]
        t1 = t["engine 1 px (fwd+1 bwd)"]
        print(f"-- {name}: replicated k={args.replicated}: {t_rep:.3f} s")
        for c in args.chunk:
            te = t[f"engine chunk={c}"]
            # per-pixel backward cost of the engine (without its forward, approx. t1 - one bwd)
            per_px = max(te - t1, 1e-9) / max(len(sub) - 1, 1)
            eng_b = t1 + per_px * (n_b - 1)
            rep_b = t_rep / len(sub) * n_b
            print(
                f"   engine chunk={c:3d}: {te:.3f} s  repl/eng {t_rep / te:5.2f}   "
                f"@|B|={n_b}: repl/eng {rep_b / eng_b:5.2f}",
                flush=True,
            )
        if "func" in t:
            t_eng0 = t[f"engine chunk={args.chunk[0]}"]
            print(
                f"   func   chunk={args.chunk[0]:3d}: {t['func']:.3f} s  repl/func "
                f"{t_rep / t['func']:5.2f}   engine/func {t_eng0 / t['func']:5.2f}"
            )
        print(f"   engine fwd + 1 bwd: {t1:.3f} s", flush=True)
        if args.profile:
            run_profile(name, variants[f"engine chunk={args.chunk[0]}"], replicated)


def func_guided(
    model: torch.nn.Module, x: torch.Tensor, pixels: torch.Tensor, chunk: int
) -> torch.Tensor:
    """Guided Backprop mean over ``pixels`` with torch.func.vjp + vmap: (1, C, H, W)."""
    n_px = x.shape[-2] * x.shape[-1]
    total = None
    with torch.enable_grad(), guided_relus(model):
        _, vjp_fn = torch.func.vjp(lambda xi: model(xi)[:, 0].flatten(), x)
        for s in range(0, len(pixels), chunk):
            idx = pixels[s : s + chunk]
            cot = torch.zeros(len(idx), n_px, dtype=x.dtype)
            cot[torch.arange(len(idx)), idx] = 1.0
            (g,) = torch.func.vmap(vjp_fn)(cot)
            v = g[:, 0].sum(dim=0, keepdim=True)
            total = v if total is None else total + v
    assert total is not None
    return (total / len(pixels)).detach()


def run_profile(name: str, engine: Callable[[], object], replicated: Callable[[], None]) -> None:
    for label, fn in (("engine", engine), ("replicated", replicated)):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            with record_function(f"{label}"):
                fn()
        print(f"\n-- profile {name} {label}")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))


if __name__ == "__main__":
    main()
