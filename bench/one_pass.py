"""Speed of the one-pass maps of one image, before and after layer methods read all their layers
from one pass (not a test; prints ratios measured in this run, asserts nothing).

Model and attribute config from params.yaml (``--dataset``, default synthetic: resnet18, decoder
(128, 64, 32, 16, 8), ten layers) with random weights, one image of ``--size`` px (default: the
dataset's image_size) and the border of a disc. Every time is a multiple of one forward + backward
of ``f`` (the border-mean logit, gradient to the input):

  per layer   saliency, input×gradient, model-level DeepLIFT, and each layer method by one
              Captum call per layer (the engine before: 2 × 10 layer calls);
  one pass    the same model-level maps, and each layer method at all layers from one shared
              pass (``Method.run_one_pass_layers``, what the engine does now);
  engine      ``Explainer.explain`` with those maps (one pass, plus the forward for Δf).

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
from seginterp.explain.layers import get_layer
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
    model = captum_safe(build_model(mcfg).eval())
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    yy, xx = np.mgrid[:size, :size] - size / 2
    border = border_pixels(yy**2 + xx**2 < (size / 4) ** 2)
    f = border_mean_logit(model, border)
    x0 = make_baseline(x, acfg.deeplift_baseline, blur_sigma=acfg.blur_sigma)
    modules = {name: get_layer(model, name) for name in acfg.layers}
    model_methods = [METHODS.get(m) for m in MODEL_METHODS]
    layer_methods = [LAYER_METHODS.get(m) for m in acfg.layer_methods]

    def fb() -> None:
        xi = x.clone().requires_grad_(True)
        torch.autograd.grad(f(xi).sum(), xi)

    def model_level() -> None:
        for m in model_methods:
            m.run_one_pass(f, x, x0, acfg, None)

    def per_layer() -> None:
        for m in layer_methods:
            for module in modules.values():
                m.run_one_pass(f, x, x0, acfg, module)

    def one_pass() -> None:
        for m in layer_methods:
            m.run_one_pass_layers(f, x, x0, acfg, modules)

    ex = Explainer(model, acfg, device="cpu")
    ig = Explainer(model, dataclasses.replace(acfg, methods=("integrated_gradients",),
                                              layer_methods=()), device="cpu")  # fmt: skip
    r = args.repeat
    t_fb = timeit(fb, r, warmup=True)
    t_model = timeit(model_level, r, warmup=True)
    t_before = t_model + timeit(per_layer, r, warmup=True)
    t_after = t_model + timeit(one_pass, r, warmup=True)
    t_engine = timeit(lambda: ex.explain(x, border), r, warmup=True)
    t_ig = timeit(lambda: ig.explain(x, border), r, warmup=True)
    n_layers = len(modules)
    print(
        f"threads={args.threads}  torch={torch.__version__}  cpu  {size} px"
        f"  |B|={int(border.sum())}"
        f"  {mcfg.encoder} decoder={mcfg.decoder_channels}  layers={n_layers}  repeat={r}"
    )
    print(f"one forward+backward of f: {t_fb:.4f} s")
    rows = [
        (f"per layer ({len(MODEL_METHODS)} model + 2x{n_layers} layer calls)", t_before),
        (f"one pass  ({len(MODEL_METHODS)} model + 2 layer-method passes)", t_after),
        ("engine explain (one pass, + Δf forward)", t_engine),
        (f"integrated gradients alone ({acfg.ig_steps} steps)", t_ig),
    ]
    for name, t in rows:
        print(f"{name:48s} {t:8.3f} s  {t / t_fb:6.1f} x f+b")
    print(f"speed-up of the one-pass maps: {t_before / t_after:.2f} x")


if __name__ == "__main__":
    main()
