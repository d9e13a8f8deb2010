"""The attribute stage's work: every configured map of every test image of a dataset.

Reads the prepared test images and ``meta.json``, the trained model, the predictions' ids and the
frozen borders; writes one npz per image and returns the table (schema: :mod:`.store`). Under
torchrun, image ``i`` goes to rank ``i % world``; every rank writes its npz files into rank 0's
temporary output directory (its path broadcast from rank 0), and the table rows are gathered on
rank 0 in image order, so the outputs equal those of one process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from seginterp.core import distributed as dist
from seginterp.core.io import atomic_dir
from seginterp.data.prepared import read_mean_rgb, read_test_images
from seginterp.explain import store
from seginterp.explain.borders import read_borders as read_border_files
from seginterp.explain.config import AttributeConfig
from seginterp.explain.engine import Explainer
from seginterp.model.net import load_model
from seginterp.model.predictions import read_table as read_prediction_table

_SECONDS = "seconds"  # per-map timing carried with the rows up to rank 0, then taken out


@dataclass(frozen=True)
class Attributions:
    """The table of a run (rank 0), how many images it covered and how many had a border, and
    the median seconds per image of each map (``method`` or ``method@layer``; maps made by one
    shared pass each report that pass) — for the run log, not the table, whose bytes must
    not depend on the run; ``refused``: configured methods this model cannot run, and why
    (:func:`~seginterp.explain.config.runnable_methods`; the table has no rows for them)."""

    table: pd.DataFrame
    n_images: int
    n_ok: int
    seconds_per_image: dict[str, float]
    refused: dict[str, str]


class StaleBordersError(ValueError):
    """The borders were computed from other predictions than those given."""


def read_borders(
    predictions: Path, borders: Path, max_images: int | None
) -> tuple[np.ndarray, pd.DataFrame]:
    """The borders (N, S, S) uint8 (memory-mapped) and the first ``max_images`` rows of their
    table (id, index, n_border, status); fails when they do not belong to ``predictions``."""
    border_arr, btable = read_border_files(borders)
    pred_ids = read_prediction_table(predictions, columns=["id"])["id"]
    if list(pred_ids) != list(btable["id"]):
        raise StaleBordersError(f"{borders} does not match {predictions}: rerun `borders`")
    if max_images is not None:
        btable = btable.iloc[:max_images]
    return border_arr, btable


def attribute_dataset(
    cfg: AttributeConfig,
    *,
    prepared: Path,
    model_dir: Path,
    predictions: Path,
    borders: Path,
    out: Path,
    device: torch.device,
    desc: str = "attribute",
) -> Attributions | None:
    """Explain every test image (the first ``cfg.max_images``) into ``out/<id>.npz``.

    ``out`` is replaced atomically. Returns the table on rank 0 (one process: always), None on
    the other ranks.
    """
    torch.manual_seed(cfg.seed)
    model, _, _ = load_model(model_dir / "model.pt", map_location="cpu")
    explainer = Explainer(model, cfg, mean_rgb=read_mean_rgb(prepared), device=device)
    images = read_test_images(prepared)
    border_arr, btable = read_borders(predictions, borders, cfg.max_images)
    keys = [store.MapKey(method.name, layer) for method, layer in explainer.requests]
    image_rows = list(btable.itertuples(index=False))
    rows: list[dict[str, Any]] = []
    positions: list[int] = []  # image position of each row (the merge order under torchrun)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_dir(out)) if dist.is_main() else None
        tmp = Path(dist.broadcast(str(tmp)))  # rank 0's temporary output directory
        for i in tqdm(dist.shard(len(image_rows)), desc=desc, unit="img", disable=dist.quiet()):
            new = _attribute_image(explainer, tmp, image_rows[i], images, border_arr[i], keys)
            rows += new
            positions += [i] * len(new)
        table = dist.gather_rows(
            tmp / "_parts", "attributions", rows, positions, (*store.TABLE_COLUMNS, _SECONDS)
        )
    if table is None:
        return None
    n_ok = int((btable["status"] == "ok").sum())
    timed = table.dropna(subset=[_SECONDS])
    names = timed["method"] + timed["layer"].map(lambda x: "" if pd.isna(x) else f"@{x}")
    seconds = timed.groupby(names, sort=False)[_SECONDS].median().round(4).to_dict()
    table = store.with_dtypes(table.drop(columns=[_SECONDS]))
    return Attributions(table, len(btable), n_ok, seconds, explainer.refused)


def _attribute_image(
    explainer: Explainer,
    directory: Path,
    row: Any,
    images: np.ndarray,
    border: np.ndarray,
    keys: Sequence[store.MapKey],
) -> list[dict[str, Any]]:
    """Explain one image (a row of the borders table), write its npz; its table rows."""
    image_id, index, status = str(row.id), int(row.index), str(row.status)
    store.check_image_id(image_id)
    border = np.asarray(border).astype(bool)
    records = []
    if status == "ok":
        x = torch.from_numpy(np.asarray(images[index], dtype=np.float32) / 255.0)
        records = explainer.explain(x.permute(2, 0, 1)[None], border, key=index)
        rows = [{**store.table_row(image_id, index, r), _SECONDS: r.seconds} for r in records]
    else:
        rows = store.skipped_rows(image_id, index, status, int(border.sum()), keys)
    store.write_image(directory, image_id, border, status, records)
    return rows
