"""Speed of border-pixel explanations (not a test; prints a table, asserts nothing).

For each method, on a briefly trained resnet18 U-Net (params.yaml decoder) at each size:
  engine     seconds per image of seginterp's engine (one-pass or exact over all of B, B = the
             border of the blob's true mask);
  f+b        one forward + backward of the model (1 image);
  per-pixel  the naive Captum loop, one call per border pixel (batch 1): a subset of pixels is
             timed and the time EXTRAPOLATED to |B|;
  replicated Captum's replicated-batch loop (k copies of the image, one target each): one
             batch timed and EXTRAPOLATED to |B| (k = --replicated; 4 for IG, 32 steps each).
Usage: python bench/attribution.py --sizes 128 256 [--threads 1] [--subset 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from collections.abc import Callable

import numpy as np
import torch
from captum.attr import (
    DeepLift,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    LayerDeepLift,
    LayerGradCam,
    Saliency,
)
from scipy import ndimage
from timing import timeit
from toy import fit_briefly

from seginterp.explain.borders import border_pixels
from seginterp.explain.captum_safe import captum_safe
from seginterp.explain.config import AttributeConfig
from seginterp.explain.engine import Explainer
from seginterp.explain.layers import get_layer
from seginterp.explain.target import PixelLogits, border_mean_logit
from seginterp.model.net import ModelConfig, build_model

LAYER = "decoder3"


def blobs(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images with one smooth random blob each (coloured, noisy) and their masks (n,1,S,S)."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(
        rng.standard_normal((n, size, size)), sigma=(0, size / 10, size / 10)
    )
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    field = field / field.std() + 2.0 - 8.0 * (yy**2 + xx**2)  # one central lesion-like blob
    masks = torch.from_numpy(field > 1.0).float()[:, None]
    imgs = 0.35 + 0.35 * masks * torch.tensor([0.9, 0.5, 0.3]).view(1, 3, 1, 1)
    imgs = (imgs + 0.06 * torch.randn(n, 3, size, size)).clamp(0, 1)
    return imgs, masks


def train_briefly(size: int, steps: int = 5) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(ModelConfig(encoder="resnet18"))
    imgs, masks = blobs(4, size, seed=0)
    fit_briefly(model, imgs, masks, steps)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--subset", type=int, default=4, help="border pixels timed in the naive loop")
    ap.add_argument("--chunk", type=int, default=32, help="engine chunk_size")
    ap.add_argument("--replicated", type=int, default=16, help="copies per replicated Captum batch")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", UserWarning)
    print(f"threads={args.threads}  torch={torch.__version__}  cpu", flush=True)
    for size in args.sizes:
        run_size(size, args.subset, args.chunk, args.replicated)


def run_size(size: int, subset: int, chunk: int, rep_k: int) -> None:
    model = captum_safe(train_briefly(size))
    imgs, masks = blobs(1, size, seed=1)
    x = imgs[:1]
    # B = the border of the lesion's true mask: a briefly trained model predicts a speckled mask
    # (|B| ~ 1000 at 128 px); a trained one follows the lesion (measured on Kvasir-SEG:
    # ~250 px at 128, ~520 at 256)
    border = border_pixels(masks[0, 0].numpy() > 0)
    n = int(border.sum())
    idx = np.flatnonzero(border.ravel())
    f = border_mean_logit(model, border)
    pix = PixelLogits(model)
    layer = get_layer(model, LAYER)
    base = AttributeConfig(
        methods=(),
        layer_methods=(),
        layers=(),
        device="cpu",
        chunk_size=chunk,
        ig_steps=32,
        guided_gradcam_layer=LAYER,
    )
    x0 = torch.zeros_like(x)

    def fb() -> None:
        xi = x.clone().requires_grad_(True)
        torch.autograd.grad(f(xi).sum(), xi)

    fb()
    t_fb = timeit(fb, 3)
    # (name, config, per-pixel call on (xs, targets) for Captum)
    cases: list[tuple[str, AttributeConfig, Callable[[torch.Tensor, list[int]], object]]] = [
        (
            "saliency",
            dataclasses.replace(base, methods=("saliency",)),
            lambda xs, t: Saliency(pix).attribute(xs, target=t, abs=False),
        ),
        (
            "input_x_gradient",
            dataclasses.replace(base, methods=("input_x_gradient",)),
            lambda xs, t: InputXGradient(pix).attribute(xs, target=t),
        ),
        (
            "integrated_gradients",
            dataclasses.replace(base, methods=("integrated_gradients",)),
            lambda xs, t: IntegratedGradients(pix).attribute(
                xs, baselines=x0.expand_as(xs), target=t, n_steps=32, internal_batch_size=chunk
            ),
        ),
        (
            "deeplift",
            dataclasses.replace(base, methods=("deeplift",)),
            lambda xs, t: DeepLift(pix).attribute(xs, baselines=x0.expand_as(xs), target=t),
        ),
        (
            f"layer gradcam {LAYER}",
            dataclasses.replace(base, layer_methods=("gradcam",), layers=(LAYER,)),
            lambda xs, t: LayerGradCam(pix, layer).attribute(xs, target=t),
        ),
        (
            f"layer deeplift {LAYER}",
            dataclasses.replace(base, layer_methods=("deeplift",), layers=(LAYER,)),
            lambda xs, t: LayerDeepLift(pix, layer).attribute(
                xs, baselines=x0.expand_as(xs), target=t
            ),
        ),
        (
            "guided_backprop",
            dataclasses.replace(base, methods=("guided_backprop",)),
            lambda xs, t: GuidedBackprop(pix).attribute(xs, target=t),
        ),
        (
            "guided_gradcam",
            dataclasses.replace(base, methods=("guided_gradcam",)),
            lambda xs, t: GuidedGradCam(pix, layer).attribute(xs, target=t),
        ),
        (
            f"gradcam_relu {LAYER}",
            dataclasses.replace(
                base, layer_methods=("gradcam",), layers=(LAYER,), gradcam_relu=True
            ),
            lambda xs, t: LayerGradCam(pix, layer).attribute(xs, target=t, relu_attributions=True),
        ),
    ]
    print(
        f"\n== {size} px, |B| = {n}, one forward+backward = {t_fb:.3f} s "
        f"(per-pixel: {subset} pixels timed, replicated: one batch of k copies timed; "
        f"both EXTRAPOLATED to |B|; engine chunk_size={chunk})",
        flush=True,
    )
    head = (
        f"{'method':24s} {'mode':9s} {'engine s':>9s} {'/f+b':>6s} {'per-pixel s':>12s} "
        f"{'per-px/eng':>10s} {'replicated s':>13s} {'repl/eng':>9s}"
    )
    print(head)
    print("-" * len(head))
    for name, cfg, captum_call in cases:
        ex = Explainer(model, cfg, device="cpu")
        recs = ex.explain(x, border)  # warm-up (and the mode)
        mode = recs[0].mode
        t_eng = timeit(lambda ex=ex: ex.explain(x, border), 3 if mode == "one-pass" else 1)
        n_sub = 2 if name == "integrated_gradients" else subset
        sub = [int(i) for i in idx[:: max(1, n // n_sub)][:n_sub]]
        captum_call(x.clone(), [sub[0]])  # warm-up

        def per_pixel(call=captum_call, sub=sub) -> None:
            for q in sub:
                call(x.clone(), [q])

        t_px = timeit(per_pixel) / len(sub) * n
        k = min(4 if name == "integrated_gradients" else rep_k, n)

        def replicated(call=captum_call, k=k) -> None:
            call(x.expand(k, *x.shape[1:]).clone(), [int(i) for i in idx[:k]])

        t_rep = timeit(replicated) / k * n
        print(
            f"{name:24s} {mode:9s} {t_eng:9.3f} {t_eng / t_fb:6.1f} {t_px:12.1f} "
            f"{t_px / t_eng:10.1f} {t_rep:13.1f} {t_rep / t_eng:9.1f}  ({len(sub)} px, k={k})",
            flush=True,
        )


if __name__ == "__main__":
    main()
