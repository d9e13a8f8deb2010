"""Speed of the sensitivity scores of one image, before and after all maps at one input share
their passes (not a test; prints ratios measured in this run, asserts nothing).

The attribute and evaluate params of params.yaml (``--dataset``, default synthetic), on the trained
model, test images and stored maps of ``--data`` (default data/<dataset>, replicate 0, else
/work/main/data/<dataset>; read only): the first ``--images`` of the images the evaluate stage
scores for sensitivity. Without such data: the dataset's model with random weights, random
images, the border of a disc, their maps made as the attribute stage makes them. Per image:

  attribute  ``Explainer.explain`` of the image (what the attribute stage does per image);
  before     one Captum ``sensitivity_max`` per stored map, each re-explaining its map alone at x
             and at every perturbed input (the evaluate stage before);
  after      ``sensitivity_rows``: at x and at each perturbed input, one ``Explainer.maps`` call
             for all the maps (shared passes), one input at a time (the evaluate stage now);
  batched    the same with all perturbed inputs in one batch (not used: see "equal").

Each time is printed as ``t / (samples × attribute)``: 1.0 is the cost of re-attributing the
image once per perturbation sample (the unperturbed input adds 1/samples). "equal" says whether
every sensitivity value is bitwise the value of "before" (else the largest relative difference).
Variants are interleaved; best of --repeat rounds.
Usage: python bench/sensitivity.py [--images 1] [--threads 1] [--repeat 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from seginterp.core.determinism import make_deterministic
from seginterp.core.params import load_params
from seginterp.data.prepared import read_mean_rgb, read_test_images
from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.functions import image_seed, recompute_function
from seginterp.evaluate.measure import choose_images
from seginterp.evaluate.sensitivity import _uniform_ball, replayed_sensitivity, sensitivity_rows
from seginterp.explain.borders import border_pixels
from seginterp.explain.config import AttributeConfig
from seginterp.explain.engine import Explainer, WantedMap, quiet_captum
from seginterp.explain.store import ImageMaps, read_image, write_image
from seginterp.model.net import ModelConfig, build_model, load_model

# the reference (one Captum call per map) lives with the test that holds the stage to it
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests" / "evaluate"))
from sensitivity_reference import sensitivity


def before(ex: Explainer, x: torch.Tensor, image_id: str, stored: ImageMaps,
           cfg: EvaluateConfig) -> list[float]:  # fmt: skip
    """The evaluate stage before: one ``sensitivity`` per map, ``Explainer.map`` each time."""
    seed = image_seed(cfg.seed + 1, image_id)
    values = []
    for key in stored.maps:
        fn, _ = recompute_function(
            stored.modes[key], stored, image_id, cfg.recompute_max_pixels, cfg.seed
        )

        def explain(xb: torch.Tensor, key: Any = key, pixels: np.ndarray = fn.pixels) -> Any:
            return ex.map(key.method, xb, pixels, layer=key.layer)

        r, n = cfg.sensitivity_radius, cfg.sensitivity_samples
        values.append(sensitivity(explain, x, r, n, seed))
    return values


def after(ex: Explainer, x: torch.Tensor, image_id: str, stored: ImageMaps,
          cfg: EvaluateConfig) -> list[float]:  # fmt: skip
    rows = sensitivity_rows(ex, x, image_id, 0, stored, cfg, progress=lambda _: None)
    return [row["sensitivity"] for row in rows]


def batched(ex: Explainer, x: torch.Tensor, image_id: str, stored: ImageMaps,
            cfg: EvaluateConfig) -> list[float]:  # fmt: skip
    """All perturbed inputs through ``Explainer.maps`` as one batch."""
    wanted: list[WantedMap] = []
    for key in stored.maps:
        fn, _ = recompute_function(
            stored.modes[key], stored, image_id, cfg.recompute_max_pixels, cfg.seed
        )
        wanted.append((key.method, key.layer, fn.pixels))
    seed, r = image_seed(cfg.seed + 1, image_id), cfg.sensitivity_radius
    perturbed = _uniform_ball(seed)(x.repeat_interleave(cfg.sensitivity_samples, dim=0), r)
    pairs = zip(ex.maps(x, wanted), ex.maps(perturbed, wanted), strict=True)
    return [replayed_sensitivity(x, a, perturbed, p, r, seed) for a, p in pairs]


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - t0, value


def equal(got: list[float], want: list[float]) -> str:
    if got == want:
        return "bitwise"
    diff = max(abs(a - b) / (abs(b) or 1.0) for a, b in zip(got, want, strict=True))
    n = sum(a != b for a, b in zip(got, want, strict=True))
    return f"{n}/{len(want)} differ, max rel {diff:.1e}"


Image = tuple[str, int, torch.Tensor, ImageMaps]
"""(id, row index, x (1, 3, S, S) in [0, 1], stored maps)."""


def real_images(
    data: Path, acfg: AttributeConfig, cfg: EvaluateConfig, k: int
) -> tuple[Explainer, list[Image]]:
    """The trained model and the first ``k`` images evaluate scores for sensitivity, with their
    stored maps, read from ``data`` (the pipeline's data/<dataset>, replicate 0)."""
    rep = data / "replicates" / "0"
    model, _, _ = load_model(rep / "model" / "model.pt")
    ex = Explainer(model, acfg, mean_rgb=read_mean_rgb(data / "prepared"), device="cpu")
    table = pd.read_parquet(rep / "borders" / "borders.parquet")
    ok = [(str(r.id), int(r.index)) for r in table.itertuples() if r.status == "ok"]
    ok = [(i, j) for i, j in ok if (rep / "attributions" / f"{i}.npz").is_file()]
    chosen = [ok[j] for j in choose_images(len(ok), cfg.sensitivity_max_images)][:k]
    images = read_test_images(data / "prepared")
    out = []
    for image_id, index in chosen:
        img = torch.from_numpy(np.asarray(images[index], dtype=np.float32) / 255.0)
        x = img.permute(2, 0, 1)[None].contiguous()
        out.append((image_id, index, x, read_image(rep / "attributions", image_id)))
    return ex, out


def built_images(
    params: dict[str, Any], dataset: str, acfg: AttributeConfig, k: int
) -> tuple[Explainer, list[Image]]:
    """Without the pipeline's data: the dataset's model with seeded random weights, ``k`` random
    images with the border of a disc, their maps made and stored as the attribute stage does."""
    torch.manual_seed(0)
    model = build_model(ModelConfig.from_params(params, dataset)).eval()
    ex = Explainer(model, acfg, device="cpu")
    size = int(params[dataset]["preprocess"]["image_size"])
    yy, xx = np.mgrid[:size, :size] - size / 2
    border = border_pixels(yy**2 + xx**2 < (size / 4) ** 2)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(k):
            x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(index + 1))
            image_id = f"random_{index}"
            with quiet_captum():
                write_image(Path(tmp), image_id, border, "ok", ex.explain(x, border, key=index))
            out.append((image_id, index, x, read_image(Path(tmp), image_id)))
    return ex, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dataset", default="synthetic")
    ap.add_argument("--data", type=Path, default=None, help="default: see above")
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-batched", action="store_true")
    args = ap.parse_args()
    threads = make_deterministic({"scale": {"cpu_threads": args.threads}})
    warnings.simplefilter("ignore", UserWarning)
    params = load_params()
    cfg = EvaluateConfig.from_params(params, args.dataset)
    acfg = AttributeConfig.from_params(params, args.dataset)
    found = [args.data] if args.data else [Path("data"), Path("/work/main/data")]
    model = Path("replicates") / "0" / "model" / "model.pt"
    found = [d / args.dataset for d in found if (d / args.dataset / model).is_file()]
    if found:
        source = str(found[0])
        ex, chosen = real_images(found[0], acfg, cfg, args.images)
    else:
        source = "none found: random weights, random images"
        ex, chosen = built_images(params, args.dataset, acfg, args.images)
    n = cfg.sensitivity_samples
    print(f"threads={threads}  torch={torch.__version__}  cpu  data: {source}  samples={n}  "
          f"repeat={args.repeat}")  # fmt: skip
    variants = {"before": before, "after": after}
    if not args.skip_batched:
        variants["batched"] = batched
    for image_id, index, x, stored in chosen:
        best: dict[str, float] = {}
        values: dict[str, list[float]] = {}
        with quiet_captum():
            for _ in range(args.repeat):
                t, _ = timed(ex.explain, x, stored.border, key=index)
                best["attribute"] = min(best.get("attribute", t), t)
                for name, fn in variants.items():
                    t, v = timed(fn, ex, x, image_id, stored, cfg)
                    best[name] = min(best.get(name, t), t)
                    values[name] = v
        modes = pd.Series(stored.modes).value_counts().to_dict()
        print(f"{image_id}: {len(stored.maps)} maps {modes}, |B|={int(stored.border.sum())}")
        unit = n * best["attribute"]
        print(f"  {'attribute':9s} {best['attribute']:8.2f} s")
        for name in variants:
            eq = "" if name == "before" else f"  equal: {equal(values[name], values['before'])}"
            ratio = best[name] / unit
            print(f"  {name:9s} {best[name]:8.2f} s  {ratio:6.2f} x samples*attribute{eq}")
        print(f"  speed-up after/before {best['before'] / best['after']:.2f} x", end="")
        if "batched" in best:
            print(f", batched/before {best['before'] / best['batched']:.2f} x", end="")
        print()


if __name__ == "__main__":
    main()
