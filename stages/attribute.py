"""Stage `attribute`: every configured map of every test image of dataset <D> (DESIGN §2).

Writes <out>/<id>.npz per test image (first ``max_images``) with:
  ``border`` (H,W) uint8, ``status`` (str);
  ``model/<method>`` (3,H,W) float32; ``layer/<method>/<layer>`` (H,W) float32 (channel sum,
  bilinear to the input); ``native/<method>/<layer>`` (h,w) float32;
  ``mode/model/<method>``, ``mode/layer/<method>/<layer>`` (str); ``sample`` (H,W) uint8 when
  nonlinear maps were ``sampled(K)`` (the pixels they average over).
and the table (Parquet), one row per image × method × layer: id, index, level, method, layer
(null for model level), mode, variant, n_border, n_explained, seconds, shared, sum, pos_mass,
neg_mass (≤ 0; sum = pos_mass + neg_mass), max, min, status. Statistics are over the stored map
(model level, all channels) or the native layer map. Images without a border keep their rows with
their status (``empty_prediction`` / ``full_prediction``), no map and null statistics.

Under torchrun, image i goes to rank i % world; every rank writes its npz files into rank 0's
temporary output directory and its table rows to ``_parts/``; after a barrier rank 0 merges the
rows in image order (the same table as one process) and removes ``_parts/``.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from seginterp import distributed as dist
from seginterp.attribution import (
    AttributeConfig,
    Explainer,
    MapRecord,
    attribute_config_from_params,
)
from seginterp.cli import input_dir
from seginterp.io import atomic_dir, read_json, write_npz, write_parquet
from seginterp.model import load_model, resolve_device
from seginterp.params import load_params, stage_section

COLUMNS = [
    "id",
    "index",
    "level",
    "method",
    "layer",
    "mode",
    "variant",
    "n_border",
    "n_explained",
    "seconds",
    "shared",
    "sum",
    "pos_mass",
    "neg_mass",
    "max",
    "min",
    "status",
]


def _stats(a: np.ndarray) -> dict[str, float]:
    a64 = a.astype(np.float64)
    return {
        "sum": float(a64.sum()),
        "pos_mass": float(a64[a64 > 0].sum()),
        "neg_mass": float(a64[a64 < 0].sum()),
        "max": float(a64.max()),
        "min": float(a64.min()),
    }


def _row(base: dict[str, Any], rec: MapRecord) -> dict[str, Any]:
    stats = _stats(rec.map if rec.native is None else rec.native)
    return {
        **base,
        "level": "model" if rec.layer is None else "layer",
        "method": rec.method,
        "layer": rec.layer,
        "mode": rec.mode,
        "variant": rec.variant,
        "n_border": rec.n_border,
        "n_explained": rec.n_explained,
        "seconds": rec.seconds,
        "shared": rec.shared,
        **stats,
        "status": "ok",
    }


@click.command()
@click.option("--dataset", required=True, help="Dataset section of params.yaml.")
@input_dir("--prepared")
@input_dir("--model", "model_dir")
@input_dir("--predictions")
@input_dir("--borders")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--table", "table_path", type=click.Path(path_type=Path), required=True)
@click.option("--params", "params_path", default="params.yaml", show_default=True)
def main(dataset: str, prepared: Path, model_dir: Path, predictions: Path, borders: Path,
         out: Path, table_path: Path, params_path: str) -> None:  # fmt: skip
    """Explain the predicted segmentation of every test image of DATASET through its border."""
    cfg = attribute_config_from_params(
        stage_section(load_params(params_path), dataset, "attribute")
    )
    device = resolve_device(cfg.device)
    with dist.process_group(device):
        _attribute(cfg, dist.local_device(device), dataset, prepared, model_dir, predictions,
                   borders, out, table_path)  # fmt: skip


def _attribute(cfg: AttributeConfig, device: torch.device, dataset: str, prepared: Path,
               model_dir: Path, predictions: Path, borders: Path, out: Path,
               table_path: Path) -> None:  # fmt: skip
    torch.manual_seed(cfg.seed)
    main_rank, world = dist.is_main(), dist.world_size()
    model, _, _ = load_model(model_dir / "model.pt", map_location="cpu")
    meta = read_json(prepared / "meta.json")
    explainer = Explainer(model, cfg, mean_rgb=meta.get("mean_rgb"), device=device)

    images = np.load(prepared / "test_images.npy", mmap_mode="r")
    border_arr = np.load(borders / "borders.npy", mmap_mode="r")
    btable = pd.read_parquet(borders / "borders.parquet")
    pred_ids = pd.read_parquet(predictions / "per_image.parquet", columns=["id"])["id"]
    if list(pred_ids) != list(btable["id"]) or len(border_arr) != len(btable):
        raise click.ClickException(f"{borders} does not match {predictions}: rerun `borders`")
    if cfg.max_images is not None:
        btable = btable.iloc[: cfg.max_images]
    skipped = [(m, None) for m in cfg.methods] + [
        (m, lname) for m in cfg.layer_methods for lname in cfg.layers
    ]

    rows: list[dict[str, Any]] = []
    positions: list[int] = []  # image position of each row (the merge order under torchrun)
    all_rows = list(btable.itertuples(index=False))
    mine = dist.shard(len(all_rows))
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_dir(out)) if main_rank else None
        tmp = Path(dist.broadcast(str(tmp)))  # rank 0's temporary output directory
        for i in tqdm(mine, desc=f"attribute {dataset}", unit="img", disable=not main_rank):
            row = all_rows[i]
            image_id, index, status = str(row.id), int(row.index), str(row.status)
            if Path(image_id).name != image_id or image_id in ("", ".", ".."):
                raise click.ClickException(f"image id {image_id!r} cannot be a file name")
            border = np.asarray(border_arr[i]).astype(bool)
            arrays: dict[str, np.ndarray] = {
                "border": border.astype(np.uint8),
                "status": np.array(status),
            }
            base = {"id": image_id, "index": index}
            if status == "ok":
                x = torch.from_numpy(np.asarray(images[index], dtype=np.float32) / 255.0)
                x = x.permute(2, 0, 1)[None]
                for rec in explainer.explain(x, border, key=index):
                    arrays[rec.key] = rec.map.astype(np.float32)
                    arrays[f"mode/{rec.key}"] = np.array(rec.mode)
                    if rec.native is not None:
                        arrays[f"native/{rec.method}/{rec.layer}"] = rec.native.astype(np.float32)
                    if rec.pixels is not None:
                        arrays["sample"] = rec.pixels.astype(np.uint8)
                    rows.append(_row(base, rec))
                    positions.append(i)
            else:
                n = int(border.sum())
                for method, lname in skipped:
                    rows.append(
                        {
                            **base,
                            "level": "model" if lname is None else "layer",
                            "method": method,
                            "layer": lname,
                            "n_border": n,
                            "n_explained": 0,
                            "status": status,
                        }
                    )
                    positions.append(i)
            write_npz(tmp / f"{image_id}.npz", arrays)
        if world > 1:
            parts = tmp / "_parts"
            dist.write_part(parts, "attributions", rows, positions, COLUMNS)
            dist.barrier()  # every rank's npz files and part are written
            if main_rank:
                table = dist.merge_parts(parts, "attributions", COLUMNS)
                dist.remove_parts(parts)
        else:
            table = pd.DataFrame(rows, columns=COLUMNS)
    if not main_rank:
        return
    table["shared"] = table["shared"].astype("boolean")  # null for images without a border
    write_parquet(table_path, table)
    n_ok = int((btable["status"] == "ok").sum())
    click.echo(
        f"{dataset}: {len(btable)} images ({n_ok} with a border), {len(table)} rows, "
        f"{time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
