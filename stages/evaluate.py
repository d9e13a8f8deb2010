"""Stage `evaluate`: fragility, region analysis, sanity check and figures for dataset <D>.

Reads the attribute stage's maps and scores each of them (DESIGN §3):

- <out>/fragility.parquet: one row per image × σ × normalize × map (infidelity, zero-map score
  ``E[Δf²]``, skill, β, map L2, mode, the function it was scored against);
- <out>/sensitivity.parquet: one row per image × map on up to ``sensitivity_max_images`` images;
- <out>/regions.parquet: one row per image × map (mass on band / inside / outside);
- <out>/sanity.parquet: one row per image × model-level method (trained vs randomized weights);
- <metrics-dir>/fragility.json, regions.json, sanity.json;
- <plots-dir>/figures/maps.png (Figs 5/8), figures/layers_<method>.png (Figs 6/7/9/10),
  layer_infidelity/<method>.csv and layer_regions/<method>.csv (vega plots over layer_index;
  one directory per kind, so dvc.yaml declares each with its own x/y).

Under torchrun the per-image infidelity and region scoring is sharded (the i-th scored image goes
to rank i % world); every rank writes its rows to a temporary ``.<out>._parts/`` beside <out>;
after a barrier rank 0 merges them in image order, removes the parts and does the rest
(sensitivity, sanity, aggregation, figures) alone, so the outputs equal those of one process.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from seginterp import distributed as dist
from seginterp.attribution import Explainer, attribute_config_from_params
from seginterp.cli import input_dir
from seginterp.figures import (
    ImageRow,
    choose_images,
    image_rows_figure,
    layer_grid_figure,
    layer_plot_tables,
)
from seginterp.fragility import (
    ScoredMap,
    aggregate_infidelity,
    aggregate_sensitivity,
    evaluate_config_from_params,
    image_seed,
    pixel_weights,
    score_maps,
    sensitivity,
    sigma_key,
    subsample_pixels,
)
from seginterp.io import atomic_dir, atomic_path, read_json, write_json, write_parquet
from seginterp.layers import LAYERS
from seginterp.model import load_model, resolve_device
from seginterp.params import load_params, stage_section
from seginterp.regions import aggregate_regions, region_masks, region_mass
from seginterp.sanity import aggregate_sanity, randomize_weights, rank_correlation

log = logging.getLogger("evaluate")

FUNCTION_DOC = (
    "f(x) = mean over the frozen border B of the logits z_q(x) (B from the unperturbed "
    "prediction); a sampled(K) map is scored against the mean over its own K pixels"
)
LAYER_CONVENTION = (
    "layer maps are channel-summed, bilinearly upsampled to the input and broadcast to every "
    "input channel: <Phi, I> = sum_hw L[h,w] * sum_c I_c[h,w]"
)


def _split_key(key: str) -> tuple[str, str, str | None]:
    """``model/<m>`` or ``layer/<m>/<layer>`` -> (level, method, layer)."""
    parts = key.split("/")
    if parts[0] == "model" and len(parts) == 2:
        return "model", parts[1], None
    if parts[0] == "layer" and len(parts) == 3:
        return "layer", parts[1], parts[2]
    raise ValueError(f"unexpected map key {key!r}")


def _table_kind(name: str) -> tuple[str, str]:
    """``layer_infidelity_<m>`` / ``layer_regions_<m>`` -> (plot directory, layer method)."""
    for kind in ("layer_infidelity", "layer_regions"):
        if name.startswith(kind + "_"):
            return kind, name[len(kind) + 1 :]
    raise ValueError(f"unexpected plot table {name!r}")


def _mode(npz: Any, key: str) -> str:
    k = f"mode/{key}"
    return str(npz[k]) if k in npz.files else "unknown"


def _image(images: np.ndarray, index: int) -> torch.Tensor:
    """(1, 3, S, S) float32 in [0, 1] from the uint8 (N, S, S, 3) array."""
    x = torch.from_numpy(np.asarray(images[index], dtype=np.float32) / 255.0)
    return x.permute(2, 0, 1)[None].contiguous()


def _recompute_pixels(
    mode: str, border: np.ndarray, ev: dict[str, Any], max_pixels: int | None, seed: int
) -> tuple[np.ndarray, str, bool]:
    """Pixels a re-computed map averages over: (mask, function label, reduced?).

    The map's own pixels (the stored sample for ``sampled(K)`` maps, else the border); maps that
    are not one-pass are reduced to a seeded sample of ``max_pixels`` when set.
    """
    own_sample = mode.startswith("sampled") and ev["sample"] is not None
    pixels = ev["sample"] if own_sample else border
    reduced = mode != "one-pass" and max_pixels is not None and int(pixels.sum()) > max_pixels
    if reduced:
        pixels = subsample_pixels(pixels, max_pixels, image_seed(seed + 2, ev["id"]))
    function = f"sample_mean({int(pixels.sum())})" if reduced or own_sample else "border_mean"
    return pixels, function, reduced


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)


@click.command()
@click.option("--dataset", required=True, help="Dataset section of params.yaml.")
@input_dir("--prepared")
@input_dir("--model", "model_dir")
@input_dir("--predictions")
@input_dir("--borders")
@input_dir("--attributions")
@click.option("--table", "table_path", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--metrics-dir", type=click.Path(path_type=Path), required=True)
@click.option("--plots-dir", type=click.Path(path_type=Path), required=True)
@click.option("--params", "params_path", default="params.yaml", show_default=True)
def main(dataset: str, prepared: Path, model_dir: Path, predictions: Path, borders: Path,
         attributions: Path, table_path: Path, out: Path, metrics_dir: Path, plots_dir: Path,
         params_path: str) -> None:  # fmt: skip
    """Score the border explanations of DATASET: fragility, regions, sanity, figures."""
    t_start = time.perf_counter()
    params = load_params(params_path)
    cfg = evaluate_config_from_params(stage_section(params, dataset, "evaluate"))
    device = resolve_device(cfg.device)
    with dist.process_group(device):
        level = logging.INFO if dist.is_main() else logging.WARNING
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
        _evaluate(dataset, prepared, model_dir, predictions, borders, attributions, table_path, out,
                  metrics_dir, plots_dir, params, dist.local_device(device), t_start)  # fmt: skip


def _load_sample(attributions: Path, image_id: str) -> np.ndarray | None:
    with np.load(attributions / f"{image_id}.npz") as npz:
        return npz["sample"].astype(bool) if "sample" in npz.files else None


def _evaluate(dataset: str, prepared: Path, model_dir: Path, predictions: Path, borders: Path,
              attributions: Path, table_path: Path, out: Path, metrics_dir: Path,
              plots_dir: Path, params: dict[str, Any], device: torch.device,
              t_start: float) -> None:  # fmt: skip
    cfg = evaluate_config_from_params(stage_section(params, dataset, "evaluate"))
    acfg = attribute_config_from_params(stage_section(params, dataset, "attribute"))
    torch.manual_seed(cfg.seed)
    main_rank, world = dist.is_main(), dist.world_size()
    model, _, _ = load_model(model_dir / "model.pt", map_location="cpu")
    meta = read_json(prepared / "meta.json")
    explainer = Explainer(model, acfg, mean_rgb=meta.get("mean_rgb"), device=device)
    net = explainer.model  # Captum-safe copy: same outputs as the trained model

    images = np.load(prepared / "test_images.npy", mmap_mode="r")
    truths = np.load(prepared / "test_masks.npy", mmap_mode="r")
    preds = np.load(predictions / "masks.npy", mmap_mode="r")
    btable = pd.read_parquet(borders / "borders.parquet")
    border_arr = np.load(borders / "borders.npy", mmap_mode="r")
    atable = pd.read_parquet(table_path)
    if len(border_arr) != len(btable):
        raise click.ClickException(f"{borders}: borders.npy and borders.parquet differ in length")
    layer_order = LAYERS.names()
    attributed = set(atable["id"].astype(str))

    frag_rows: list[dict[str, Any]] = []
    region_rows: list[dict[str, Any]] = []
    evaluated: list[dict[str, Any]] = []  # images scored: id, index, row i, sample mask or None
    t0 = time.perf_counter()
    rows = list(btable.itertuples(index=False))
    todo = [i for i, r in enumerate(rows) if str(r.status) == "ok" and str(r.id) in attributed]
    mine = [todo[j] for j in dist.shard(len(todo))]
    parts = out.parent / f".{out.name}._parts"  # per-rank rows under torchrun
    if world > 1 and main_rank and parts.exists():
        dist.remove_parts(parts)  # left by an interrupted run
    dist.barrier()
    frag_pos: list[int] = []  # image position of each row (the merge order under torchrun)
    region_pos: list[int] = []
    for i in tqdm(mine, desc=f"infidelity {dataset}", unit="img", disable=not main_rank):
        image_id, index = str(rows[i].id), int(rows[i].index)
        with np.load(attributions / f"{image_id}.npz") as npz:
            border = npz["border"].astype(bool)
            if not np.array_equal(border, np.asarray(border_arr[i]).astype(bool)):
                raise click.ClickException(f"{image_id}: stored border differs from {borders}")
            sample = npz["sample"].astype(bool) if "sample" in npz.files else None
            keys = [k for k in npz.files if k.startswith(("model/", "layer/"))]
            maps = {k: npz[k].astype(np.float32) for k in keys}
            modes = {k: _mode(npz, k) for k in keys}
        weights = [pixel_weights(border)]
        if sample is not None:
            weights.append(pixel_weights(sample))
        scored, info = [], {}
        for k in keys:
            sampled = modes[k].startswith("sampled")
            fn = 1 if sampled and sample is not None else 0
            scored.append(ScoredMap(k, torch.from_numpy(maps[k]), fn))
            if sampled and sample is None:
                info[k] = ("border_mean (map is " + modes[k] + ": no sample stored)", True)
            elif fn == 1:
                info[k] = (f"sample_mean({int(sample.sum())})", False)
            else:
                info[k] = ("border_mean", False)
        x = _image(images, index).to(device)
        recs = score_maps(
            net,
            x,
            scored,
            torch.stack(weights),
            cfg.infidelity_sigma,
            cfg.n_perturb_samples,
            image_seed(cfg.seed, image_id),
            cfg.batch_size,
        )
        n_border = int(border.sum())
        for r in recs:
            level, method, layer = _split_key(r["key"])
            common = {
                "id": image_id,
                "index": index,
                "sigma": r["sigma"],
                "level": level,
                "method": method,
                "layer": layer,
                "mode": modes[r["key"]],
                "scored_function": info[r["key"]][0],
                "function_mismatch": info[r["key"]][1],
                "zero": r["zero"],
                "map_l2": r["map_l2"],
                "n_border": n_border,
                "n_perturb_samples": cfg.n_perturb_samples,
            }
            frag_rows.append(
                {
                    **common,
                    "normalize": False,
                    "infidelity": r["infidelity"],
                    "skill": r["skill"],
                    "beta": None,
                }
            )
            frag_rows.append(
                {
                    **common,
                    "normalize": True,
                    "infidelity": r["infidelity_normalized"],
                    "skill": r["skill_normalized"],
                    "beta": r["beta"],
                }
            )
            frag_pos += [i, i]
        masks = region_masks(np.asarray(preds[index]), border, cfg.band_width)
        for k in keys:
            level, method, layer = _split_key(k)
            region_rows.append(
                {
                    "id": image_id,
                    "index": index,
                    "level": level,
                    "method": method,
                    "layer": layer,
                    "mode": modes[k],
                    **region_mass(maps[k], masks),
                }
            )
            region_pos.append(i)
        evaluated.append({"id": image_id, "index": index, "row": i, "sample": sample})
    if world > 1:
        dist.write_part(parts, "fragility", frag_rows, frag_pos)
        dist.write_part(parts, "regions", region_rows, region_pos)
        dist.barrier()  # every rank's parts are written
        if not main_rank:
            return
        frag = dist.merge_parts(parts, "fragility")
        regions = dist.merge_parts(parts, "regions")
        dist.remove_parts(parts)
        evaluated = [
            {
                "id": str(rows[i].id),
                "index": int(rows[i].index),
                "row": i,
                "sample": _load_sample(attributions, str(rows[i].id)),
            }
            for i in todo
        ]
    else:
        frag = pd.DataFrame(frag_rows)
        regions = pd.DataFrame(region_rows)
    t_infd = time.perf_counter() - t0

    # ---- sensitivity: re-runs attribution on perturbed inputs (costly): a few images
    t0 = time.perf_counter()
    sens_rows: list[dict[str, Any]] = []
    chosen = [evaluated[j] for j in choose_images(len(evaluated), cfg.sensitivity_max_images)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Input Tensor .* did not already require")
        warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
        for ev in tqdm(chosen, desc=f"sensitivity {dataset}", unit="img"):
            x = _image(images, ev["index"]).to(device)
            with np.load(attributions / f"{ev['id']}.npz") as npz:
                border = npz["border"].astype(bool)
                keys = [k for k in npz.files if k.startswith(("model/", "layer/"))]
                stored = {k: npz[k].astype(np.float32) for k in keys}
                modes = {k: _mode(npz, k) for k in keys}
            for k in keys:
                level, method, layer = _split_key(k)
                pixels, function, reduced = _recompute_pixels(
                    modes[k], border, ev, cfg.recompute_max_pixels, cfg.seed
                )
                first: dict[str, torch.Tensor] = {}

                def explain_fn(
                    xb: torch.Tensor, method: str = method, layer: str | None = layer,
                    pixels: np.ndarray = pixels, first: dict[str, torch.Tensor] = first,
                ) -> torch.Tensor:  # fmt: skip
                    m = explainer.map(method, xb, pixels, layer=layer)
                    first.setdefault("map", m.detach())
                    return m

                t1 = time.perf_counter()
                s = sensitivity(
                    explain_fn,
                    x,
                    cfg.sensitivity_radius,
                    cfg.sensitivity_samples,
                    image_seed(cfg.seed + 1, ev["id"]),
                )
                again = first["map"][0].cpu().numpy().reshape(stored[k].shape)
                ref = float(np.linalg.norm(stored[k])) or 1.0
                rel = None if reduced else float(np.linalg.norm(again - stored[k]) / ref)
                sens_rows.append(
                    {
                        "id": ev["id"],
                        "index": ev["index"],
                        "level": level,
                        "method": method,
                        "layer": layer,
                        "mode": modes[k],
                        "sensitivity": s,
                        "radius": cfg.sensitivity_radius,
                        "n_samples": cfg.sensitivity_samples,
                        "function": function,
                        "recompute_rel_l2": rel,
                        "seconds": time.perf_counter() - t1,
                    }
                )
    t_sens = time.perf_counter() - t0
    sens = pd.DataFrame(
        sens_rows,
        columns=[
            "id",
            "index",
            "level",
            "method",
            "layer",
            "mode",
            "function",
            "sensitivity",
            "radius",
            "n_samples",
            "recompute_rel_l2",
            "seconds",
        ],
    )

    # ---- sanity: trained vs re-initialized weights, model-level methods
    t0 = time.perf_counter()
    sanity_rows: list[dict[str, Any]] = []
    chosen = [evaluated[j] for j in choose_images(len(evaluated), cfg.sanity_images)]
    if chosen and acfg.methods:
        random_explainer = Explainer(
            randomize_weights(net, cfg.seed), acfg, mean_rgb=meta.get("mean_rgb"), device=device
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Input Tensor .* did not already require")
            warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
            for ev in tqdm(chosen, desc=f"sanity {dataset}", unit="img"):
                x = _image(images, ev["index"]).to(device)
                with np.load(attributions / f"{ev['id']}.npz") as npz:
                    border = npz["border"].astype(bool)
                    for method in acfg.methods:
                        key = f"model/{method}"
                        if key not in npz.files:
                            continue
                        mode = _mode(npz, key)
                        pixels, function, reduced = _recompute_pixels(
                            mode, border, ev, cfg.recompute_max_pixels, cfg.seed
                        )
                        rnd = random_explainer.map(method, x, pixels)[0].cpu().numpy()
                        trained = (
                            explainer.map(method, x, pixels)[0].cpu().numpy()
                            if reduced
                            else npz[key]
                        )
                        corr = rank_correlation(trained, rnd)
                        sanity_rows.append(
                            {
                                "id": ev["id"],
                                "index": ev["index"],
                                "method": method,
                                "mode": mode,
                                "function": function,
                                **corr,
                            }
                        )
    t_sanity = time.perf_counter() - t0
    sanity = pd.DataFrame(
        sanity_rows,
        columns=["id", "index", "method", "mode", "function", "spearman", "spearman_abs"],
    )

    # ---- aggregation
    n_images = len(btable)
    by_status = btable["status"].value_counts().to_dict()
    counts = {
        "n_images": n_images,
        "n_with_border": int((btable["status"] == "ok").sum()),
        "n_without_border": int((btable["status"] != "ok").sum()),
        "without_border_by_status": {str(k): int(v) for k, v in by_status.items() if k != "ok"},
        "n_not_attributed": int(
            sum(1 for r in rows if str(r.status) == "ok" and str(r.id) not in attributed)
        ),
        "n_evaluated": len(evaluated),
    }
    fragility_json: dict[str, Any] = {
        "function": FUNCTION_DOC,
        "layer_map_convention": LAYER_CONVENTION,
        "perturbation": {
            "kind": "gaussian, I ~ N(0, sigma^2) per input value; perturbed input x - I",
            "sigma": list(cfg.infidelity_sigma),
            "n_perturb_samples": cfg.n_perturb_samples,
            "shared_across_maps": True,
            "seed": cfg.seed,
        },
        **counts,
        "infidelity": (
            aggregate_infidelity(
                frag, layer_order, cfg.n_perturb_samples, cfg.bootstrap, cfg.seed, cfg.alpha
            )
            if len(frag)
            else {}
        ),
        "sensitivity": {
            "radius": cfg.sensitivity_radius,
            "n_samples": cfg.sensitivity_samples,
            "n_images": int(sens["id"].nunique()) if len(sens) else 0,
            "max_pixels": cfg.recompute_max_pixels,
            "functions": (
                {
                    r.method if r.level == "model" else f"{r.method}@{r.layer}": r.function
                    for r in sens.drop_duplicates(["level", "method", "layer"]).itertuples()
                }
                if len(sens)
                else {}
            ),
            "recompute_rel_l2_max": (
                float(sens["recompute_rel_l2"].dropna().max())
                if sens["recompute_rel_l2"].notna().any()
                else None
            ),
            **aggregate_sensitivity(sens, layer_order, cfg.bootstrap, cfg.seed, cfg.alpha),
        },
        "seconds": {"infidelity_and_regions": t_infd, "sensitivity": t_sens},
    }
    regions_json = {
        "band_width": cfg.band_width,
        "regions": "band = border dilated by band_width px (4-connected); inside = prediction "
        "minus band; outside = rest; model maps summed over channels",
        **counts,
        **(
            aggregate_regions(regions, layer_order, cfg.bootstrap, cfg.seed) if len(regions) else {}
        ),
    }
    sanity_json = {
        "test": "Spearman rank correlation over pixels between the channel-summed map of the "
        "trained model and of the same architecture re-initialized (seeded); same border",
        "seed": cfg.seed,
        "n_images": int(sanity["id"].nunique()) if len(sanity) else 0,
        "max_pixels": cfg.recompute_max_pixels,
        "functions": (
            dict(zip(sanity["method"], sanity["function"], strict=True)) if len(sanity) else {}
        ),
        "methods": aggregate_sanity(sanity, cfg.bootstrap, cfg.seed) if len(sanity) else {},
        "seconds": t_sanity,
    }

    # ---- figures and vega tables
    t0 = time.perf_counter()
    fig_dir = plots_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    fig_sel = [evaluated[j] for j in choose_images(len(evaluated), cfg.figure_images)]
    if fig_sel:
        fig_rows, grid_rows = [], {lm: [] for lm in acfg.layer_methods}
        for ev in fig_sel:
            with np.load(attributions / f"{ev['id']}.npz") as npz:
                image = np.asarray(images[ev["index"]])
                maps = {m: npz[f"model/{m}"] for m in acfg.methods if f"model/{m}" in npz.files}
                fig_rows.append(
                    ImageRow(
                        ev["id"],
                        image,
                        np.asarray(truths[ev["index"]]),
                        np.asarray(preds[ev["index"]]),
                        npz["border"],
                        maps,
                    )
                )
                for lm in acfg.layer_methods:
                    lmaps = {
                        k: npz[f"layer/{lm}/{k}"]
                        for k in acfg.layers
                        if f"layer/{lm}/{k}" in npz.files
                    }
                    grid_rows[lm].append((ev["id"], image, lmaps))
        image_rows_figure(
            fig_rows, [m for m in acfg.methods if m in fig_rows[0].maps], fig_dir / "maps.png"
        )
        for lm, grow in grid_rows.items():
            present = [k for k in layer_order if k in grow[0][2]]
            if present:
                layer_grid_figure(grow, present, lm, fig_dir / f"layers_{lm}.png")
    if fragility_json["infidelity"] and "layer" in regions_json:
        tables = layer_plot_tables(
            fragility_json, regions_json, layer_order, sigma_key(cfg.infidelity_sigma[0])
        )
        for name, trows in tables.items():
            kind, lm = _table_kind(name)
            _write_csv(plots_dir / kind / f"{lm}.csv", trows)
    fragility_json["seconds"]["figures"] = time.perf_counter() - t0
    fragility_json["seconds"]["total"] = time.perf_counter() - t_start

    with atomic_dir(out) as tmp:
        write_parquet(tmp / "fragility.parquet", frag)
        write_parquet(tmp / "sensitivity.parquet", sens)
        write_parquet(tmp / "regions.parquet", regions)
        write_parquet(tmp / "sanity.parquet", sanity)
    write_json(metrics_dir / "fragility.json", fragility_json)
    write_json(metrics_dir / "regions.json", regions_json)
    write_json(metrics_dir / "sanity.json", sanity_json)
    click.echo(
        f"{dataset}: {len(evaluated)} images scored ({counts['n_without_border']} without border), "
        f"infidelity {t_infd:.1f} s, sensitivity {t_sens:.1f} s, sanity {t_sanity:.1f} s, "
        f"total {time.perf_counter() - t_start:.1f} s"
    )


if __name__ == "__main__":
    main()
