"""Where the evaluate stage's time goes, per image, as multiples of one forward + backward.

    python bench/evaluate.py [--dataset synthetic] [--replicate 0] [--images 2]

Reads the committed run's outputs (``data/<D>/``, replicate ``--replicate``: run ``make repro``
or ``dvc pull`` first), applies the dataset's numerics as the stages do, and times on the first
``--images`` scored images each part of :func:`seginterp.evaluate.run.evaluate_dataset`:
input-space infidelity, activation-space layer infidelity, sensitivity (its image count is a
param: here per image), the randomized model's maps (sanity and region null), deletion/insertion,
localisation and complexity and, for scale, the attribute stage's :meth:`Explainer.explain`. The
unit is one forward + backward of the border-mean logit of one image. Each part's floor, in the
same unit:

- input-space infidelity: ``n_perturb_samples`` forwards per σ (batched);
- activation-space: per layer and σ, ``n_perturb_samples`` forwards of the part of the network
  downstream of the layer (its share of the convolutions' multiply-adds);
- randomized model: one ``explain`` of the image (what the attribute stage pays);
- sensitivity: ``sensitivity_samples + 1`` explanations of the image;
- deletion/insertion: ``2 + 2 (deletion_steps − 1) (maps + 1)`` forwards (batched), plus the
  imputations on the CPU;
- cascade: one explanation of the model-level maps per block (the head and every layer);
- localisation, complexity: no pass of the model (they read the stored maps).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from timing import timeit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--replicate", type=int, default=0, help="training seed of the replicate")
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--params", default="params.yaml")
    args = p.parse_args()

    from seginterp.core.determinism import make_deterministic
    from seginterp.core.params import load_params

    params = load_params(args.params)
    make_deterministic(params)
    import functools

    import numpy as np
    import torch
    from torch import nn

    from seginterp.evaluate.cascade import cascade_models
    from seginterp.evaluate.complexity import complexity_rows
    from seginterp.evaluate.config import EvaluateConfig
    from seginterp.evaluate.deletion import deletion_rows
    from seginterp.evaluate.functions import image_functions, image_seed, stored_map_function
    from seginterp.evaluate.infidelity import ScoredMap, score_maps
    from seginterp.evaluate.inputs import EvaluateInputs, load_inputs
    from seginterp.evaluate.layer_infidelity import activation_records
    from seginterp.evaluate.localisation import localisation_rows
    from seginterp.evaluate.randomized import randomize_weights, randomized_pairs
    from seginterp.evaluate.sensitivity import sensitivity_rows
    from seginterp.explain.config import AttributeConfig
    from seginterp.explain.engine import Explainer, quiet_captum
    from seginterp.explain.store import MapKey

    d = Path("data") / args.dataset
    r = d / "replicates" / str(args.replicate)
    cfg = EvaluateConfig.from_params(params, args.dataset)
    acfg = AttributeConfig.from_params(params, args.dataset)
    inputs = EvaluateInputs(d / "prepared", r / "model", r / "predictions", r / "borders",
                            r / "attributions", r / "attributions.parquet")  # fmt: skip
    data = load_inputs(inputs, acfg, torch.device("cpu"))
    ex, model = data.explainer, data.explainer.model
    refs = data.todo[: args.images]
    x0 = data.x(refs[0])
    border = torch.from_numpy(data.stored(refs[0]).border).double()
    w = border / border.sum()

    def fwd_bwd() -> None:
        xi = x0.clone().requires_grad_(True)
        (model(xi)[0, 0] * w).sum().backward()

    unit = timeit(fwd_bwd, repeat=5)
    with torch.no_grad():
        batched = timeit(lambda: model(x0.expand(cfg.batch_size, -1, -1, -1)), repeat=3)
    per_sample = batched / cfg.batch_size / unit

    # multiply-adds of each convolution in network order: the share downstream of each layer
    macs: list[tuple[nn.Module, int]] = []

    def count(m: nn.Module, _i: Any, o: torch.Tensor) -> None:
        macs.append((m, o.numel() * m.weight[0].numel()))

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(x0)
    for h in hooks:
        h.remove()
    total = sum(c for _, c in macs)

    def downstream(layer: str) -> float:
        inside = set(ex.layer(layer).modules())
        last = max((i for i, (m, _) in enumerate(macs) if m in inside), default=0)
        return sum(c for _, c in macs[last + 1 :]) / total

    n, sig = cfg.n_perturb_samples, len(cfg.infidelity_sigma)
    rnd = Explainer(randomize_weights(model, cfg.seed), ex.cfg, mean_rgb=data.mean_rgb)
    keys = [MapKey(m) for m in ex.cfg.methods]
    keys += [MapKey(m, k) for m in ex.cfg.layer_methods for k in ex.cfg.layers]
    steps = [Explainer(net, ex.cfg, mean_rgb=data.mean_rgb)
             for _, _, net in cascade_models(model, cfg.seed)]  # fmt: skip
    model_keys = [MapKey(m) for m in ex.cfg.methods]

    def cascade(x: torch.Tensor, image_id: str, stored: Any) -> None:
        for step in steps:
            randomized_pairs(ex, step, x, image_id, stored, model_keys, cfg)

    parts: dict[str, list[float]] = {}
    floors: dict[str, float] = {}
    for ref in refs:
        stored, x = data.stored(ref), data.x(ref)
        functions = image_functions(stored)
        scored, native = [], []
        for key, attr in stored.maps.items():
            fn = stored_map_function(stored.modes[key], functions)[0]
            scored.append(ScoredMap(key, torch.from_numpy(attr), fn))
            if key.layer is not None:
                native.append(ScoredMap(key, torch.from_numpy(stored.natives[key]), fn))
        modules = {m.key.layer: ex.layer(m.key.layer) for m in native}
        seed = image_seed(cfg.seed, ref.id)
        deleted = {k: a for k, a in stored.maps.items() if k.layer is None or cfg.deletion_layers}
        truth = np.asarray(data.truths[ref.index]).astype(bool)
        pred = np.asarray(data.preds[ref.index])
        sigmas, bs = cfg.infidelity_sigma, cfg.batch_size
        timed: list[tuple[str, Callable[..., Any], tuple[Any, ...]]] = [
            ("attribute (explain, for scale)", ex.explain, (x, stored.border)),
            ("infidelity, input space", score_maps,
             (model, x, scored, sigmas, n, seed, bs, functions)),
            ("infidelity, activation space", activation_records,
             (model, x, native, modules, sigmas, n, seed, bs)),
            ("randomized model (sanity, null)", randomized_pairs,
             (ex, rnd, x, ref.id, stored, keys, cfg)),
            ("sensitivity", sensitivity_rows,
             (ex, x, ref.id, ref.index, stored, cfg, lambda _: None)),
            ("deletion / insertion", functools.partial(
                deletion_rows, steps=cfg.deletion_steps, kind=cfg.deletion_replacement,
                seed=cfg.seed, batch_size=bs),
             (ref.id, ref.index, model, x, ex.baseline(x), deleted, stored.modes, stored.border)),
            ("localisation", localisation_rows,
             (ref.id, ref.index, stored.maps, stored.modes, truth, pred, stored.border,
              cfg.band_width)),
            ("complexity", complexity_rows, (ref.id, ref.index, stored.maps, stored.modes)),
            ("cascade (every block)", cascade, (x, ref.id, stored)),
        ]  # fmt: skip
        with quiet_captum():
            for name, fn, fn_args in timed:
                t0 = time.perf_counter()
                fn(*fn_args)
                parts.setdefault(name, []).append((time.perf_counter() - t0) / unit)
        explain = parts["attribute (explain, for scale)"][-1]
        layers = {m.key.layer for m in native}
        floors.setdefault("infidelity, input space", sig * n * per_sample)
        floors.setdefault("infidelity, activation space",
                          sig * n * per_sample * sum(downstream(k) for k in layers))  # fmt: skip
        floors.setdefault("randomized model (sanity, null)", 0.0)
        floors["randomized model (sanity, null)"] += explain / len(refs)
        orders = len(deleted) + 1
        floors.setdefault("deletion / insertion",
                          (2 + 2 * (cfg.deletion_steps - 1) * orders) * per_sample)  # fmt: skip
        floors.setdefault("cascade (every block)", 0.0)
        floors["cascade (every block)"] += len(steps) * explain / len(refs)
        floors.setdefault("localisation", 0.0)
        floors.setdefault("complexity", 0.0)
        floors.setdefault("sensitivity", 0.0)
        floors["sensitivity"] += (cfg.sensitivity_samples + 1) * explain / len(refs)

    print(f"{args.dataset}: {len(refs)} images; unit = one forward + backward = {unit:.3f} s; "
          f"one forward in a batch of {cfg.batch_size} = {per_sample:.2f} units")  # fmt: skip
    print(f"{'part':34s} {'s / image':>10s} {'units':>8s} {'floor':>8s}")
    for name, values in parts.items():
        units = statistics.mean(values)
        floor = floors.get(name)
        floor_s = "" if floor is None else f"{floor:8.1f}"
        print(f"{name:34s} {units * unit:10.2f} {units:8.1f} {floor_s}")


if __name__ == "__main__":
    main()
