"""What the evaluate stage reads: the upstream outputs (:class:`EvaluateInputs`), loaded once
(:func:`load_inputs`) as the explainer, the memory-mapped test arrays and the images to score."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from seginterp.data.prepared import read_mean_rgb, read_test_images, read_test_masks
from seginterp.explain.borders import read_borders
from seginterp.explain.config import AttributeConfig
from seginterp.explain.engine import Explainer
from seginterp.explain.store import ImageMaps, read_image
from seginterp.model.net import load_model
from seginterp.model.predictions import read_masks


@dataclass(frozen=True)
class EvaluateInputs:
    """What the evaluate stage reads: the upstream stages' output directories and table."""

    prepared: Path
    model: Path
    predictions: Path
    borders: Path
    attributions: Path
    table: Path


@dataclass(frozen=True)
class ImageRef:
    """One scored image: where it is in borders.parquet and in the test arrays."""

    position: int  # row of borders.parquet: the order of the tables
    id: str
    index: int  # row of the test arrays


@dataclass
class EvaluateData:
    """The loaded inputs: the explainer, the test arrays (memory-mapped), the scored images."""

    explainer: Explainer
    mean_rgb: Any
    device: torch.device
    inputs: EvaluateInputs
    images: np.ndarray  # (N, S, S, 3) uint8
    truths: np.ndarray  # (N, S, S)
    preds: np.ndarray  # (N, S, S)
    borders: np.ndarray  # (rows of borders.parquet, S, S)
    status: pd.Series  # border status per row of borders.parquet
    todo: list[ImageRef]  # images with a border and maps, in table order
    n_not_attributed: int

    def x(self, ref: ImageRef) -> torch.Tensor:
        """(1, 3, S, S) float32 in [0, 1] on the device."""
        x = torch.from_numpy(np.asarray(self.images[ref.index], dtype=np.float32) / 255.0)
        return x.permute(2, 0, 1)[None].contiguous().to(self.device)

    def stored(self, ref: ImageRef) -> ImageMaps:
        """The image's stored maps; their border must be the border stage's."""
        stored = read_image(self.inputs.attributions, ref.id)
        if not np.array_equal(stored.border, np.asarray(self.borders[ref.position]).astype(bool)):
            raise ValueError(
                f"{ref.id}: the border stored in {self.inputs.attributions} differs from "
                f"{self.inputs.borders}; rerun the attribute stage"
            )
        return stored


def load_inputs(
    inputs: EvaluateInputs, acfg: AttributeConfig, device: torch.device
) -> EvaluateData:
    """The explainer of the trained model on ``device`` and the test data; the images to score
    are those with a border (status ``ok``) that the attribute stage explained."""
    model, _, _ = load_model(inputs.model / "model.pt", map_location="cpu")
    mean_rgb = read_mean_rgb(inputs.prepared)
    explainer = Explainer(model, acfg, mean_rgb=mean_rgb, device=device)
    borders, btable = read_borders(inputs.borders)
    attributed = set(pd.read_parquet(inputs.table, columns=["id"])["id"].astype(str))
    rows = enumerate(btable.itertuples(index=False))
    ok = [ImageRef(i, str(r.id), int(r.index)) for i, r in rows if str(r.status) == "ok"]
    todo = [ref for ref in ok if ref.id in attributed]
    return EvaluateData(
        explainer,
        mean_rgb,
        device,
        inputs,
        images=read_test_images(inputs.prepared),
        truths=read_test_masks(inputs.prepared),
        preds=read_masks(inputs.predictions),
        borders=borders,
        status=btable["status"],
        todo=todo,
        n_not_attributed=len(ok) - len(todo),
    )
