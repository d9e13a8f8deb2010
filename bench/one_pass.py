"""Speed of the one-pass maps of one image: one call per map, one pass per layer method, and
the two shared passes the engine runs now (not a test; prints ratios measured in this run,
asserts nothing).

Model and attribute config from params.yaml (``--dataset``, default synthetic: resnet18, decoder
(128, 64, 32, 16, 8), ten layers) with random weights, one image of ``--size`` px (default: the
dataset's image_size) and the border of a disc. Every time is a multiple of one forward + backward
of ``f`` (the border-mean logit, gradient to the input):

  per layer    saliency, input×gradient, model-level DeepLIFT, and each layer method by one
               Captum call per map (3 + 2 × 10 calls: the engine of two versions ago);
  per method   the same model-level calls, and each layer method at all its layers from one pass
               of its own (3 + 2 passes: the engine of the last version);
  shared       one gradient pass (saliency, input×gradient, Grad-CAM at every layer) and one
               DeepLIFT pass (DeepLIFT at model level and at every layer): 2 passes, the engine
               now (``seginterp.explain.passes``). Goal of issue 13: <= 4 x f+b;
  engine       ``Explainer.explain`` with those maps (shared passes, plus the forward for Δf);
  API          ``explain_image`` with those maps at every layer, as a user calls it on one image:
               the Captum-safe copy, the mask and border from the model's own prediction, the
               method and layer checks and the engine, per call (goal of issue 23: <= 4 x).

Integrated Gradients (ig_steps from params) is timed on its own line. Medians of --repeat runs.
Usage: python bench/one_pass.py [--threads 1] [--repeat 3] [--size 96]
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings

import numpy as np
import torch
from timing import timeit

from seginterp.core.params import load_params
from seginterp.explain.borders import border_pixels
from seginterp.explain.captum_safe import captum_safe
from seginterp.explain.config import AttributeConfig
from seginterp.explain.engine import Explainer
from seginterp.explain.image import explain_image
from seginterp.explain.layers import get_layer, resolve_layers
from seginterp.explain.passes import DEEPLIFT, GRADIENT
from seginterp.explain.registry import LAYER_METHODS, METHODS
from seginterp.explain.target import border_mean_logit, make_baseline
from seginterp.model.net import ModelConfig, build_model

MODEL_METHODS = ("saliency", "input_x_gradient", "deeplift")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dataset", default="synthetic")
    ap.add_argument("--size", type=int, default=None, help="default: preprocess.image_size")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", UserWarning)
    params = load_params()
    size = args.size or int(params[args.dataset]["preprocess"]["image_size"])
    mcfg = ModelConfig.from_params(params, args.dataset)
    acfg = AttributeConfig.from_params(params, args.dataset)
    acfg = dataclasses.replace(
        acfg, methods=MODEL_METHODS, layer_methods=("gradcam", "deeplift"), device="cpu"
    )
    torch.manual_seed(0)
    raw = build_model(mcfg).eval()
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # about half the image predicted foreground: a border to explain
        raw.segmentation_head[0].bias -= raw(x).median()
    model = captum_safe(raw)
    yy, xx = np.mgrid[:size, :size] - size / 2
    border = border_pixels(yy**2 + xx**2 < (size / 4) ** 2)
    f = border_mean_logit(model, border)
    x0 = make_baseline(x, acfg.deeplift_baseline, blur_sigma=acfg.blur_sigma)
    modules = {name: get_layer(model, name) for name in resolve_layers(acfg.layers, model)}
    model_methods = [METHODS.get(m) for m in MODEL_METHODS]
    layer_methods = [LAYER_METHODS.get(m) for m in acfg.layer_methods]

    def fb() -> None:
        xi = x.clone().requires_grad_(True)
        torch.autograd.grad(f(xi).sum(), xi)

    def fb2() -> None:  # the floor of a DeepLIFT pass: its forward and backward carry (x, x₀)
        xi = torch.cat([x, x0]).requires_grad_(True)
        torch.autograd.grad(f(xi).sum(), xi)

    def model_level() -> None:
        for m in model_methods:
            m.run_one_pass(f, x, x0, acfg, None)

    def per_layer() -> None:
        for m in layer_methods:
            for module in modules.values():
                m.run_one_pass(f, x, x0, acfg, module)

    def per_method() -> None:
        model_level()
        GRADIENT.run(f, x, x0, modules)  # Grad-CAM at every layer
        DEEPLIFT.run(f, x, x0, modules)  # layer DeepLIFT at every layer

    def shared() -> None:
        gradient = GRADIENT.run(f, x, x0, modules)
        deeplift = DEEPLIFT.run(f, x, x0, modules)
        for m in (*model_methods, *layer_methods):
            result = gradient if m.shared.source is GRADIENT else deeplift
            for layer in [None] if m.level == "model" else list(modules):
                m.read_shared(result, layer)

    ex = Explainer(model, acfg, device="cpu")
    ig = Explainer(model, dataclasses.replace(acfg, methods=("integrated_gradients",),
                                              layer_methods=()), device="cpu")  # fmt: skip
    r = args.repeat
    t_fb = timeit(fb, r, warmup=True)
    t_model = timeit(model_level, r, warmup=True)
    t_per_layer = t_model + timeit(per_layer, r, warmup=True)
    t_per_method = timeit(per_method, r, warmup=True)
    t_shared = timeit(shared, r, warmup=True)
    t_gradient = timeit(lambda: GRADIENT.run(f, x, x0, modules), r, warmup=True)
    t_deeplift = timeit(lambda: DEEPLIFT.run(f, x, x0, modules), r, warmup=True)
    t_fb2 = timeit(fb2, r, warmup=True)
    t_engine = timeit(lambda: ex.explain(x, border), r, warmup=True)
    t_ig = timeit(lambda: ig.explain(x, border), r, warmup=True)
    api = dict(methods=MODEL_METHODS, layer_methods=acfg.layer_methods, layers="all",
               deeplift_baseline=acfg.deeplift_baseline, device="cpu")  # fmt: skip
    t_api = timeit(lambda: explain_image(raw, x, **api), r, warmup=True)
    n_layers = len(modules)
    print(
        f"threads={args.threads}  torch={torch.__version__}  cpu  {size} px"
        f"  |B|={int(border.sum())}"
        f"  {mcfg.encoder} decoder={mcfg.decoder_channels}  layers={n_layers}  repeat={r}"
    )
    print(f"one forward+backward of f: {t_fb:.4f} s")
    rows = [
        (f"per layer  ({len(MODEL_METHODS)} model + 2x{n_layers} layer calls)", t_per_layer),
        (f"per method ({len(MODEL_METHODS)} model calls + 2 layer-method passes)", t_per_method),
        ("shared     (1 gradient + 1 DeepLIFT pass; goal <= 4x)", t_shared),
        ("  of which the gradient pass", t_gradient),
        ("  of which the DeepLIFT pass", t_deeplift),
        ("  floor: f+b + f+b of the batch (x, x₀)", t_fb + t_fb2),
        ("engine explain (shared passes, + Δf forward)", t_engine),
        ("API explain_image (copy, mask, checks, engine; goal <= 4x)", t_api),
        (f"integrated gradients alone ({acfg.ig_steps} steps)", t_ig),
    ]
    for name, t in rows:
        print(f"{name:56s} {t:8.3f} s  {t / t_fb:6.1f} x f+b")
    print(f"speed-up, shared vs per method: {t_per_method / t_shared:.2f} x;"
          f" vs per layer: {t_per_layer / t_shared:.2f} x")  # fmt: skip


if __name__ == "__main__":
    main()
