import json
from pathlib import Path

import numpy as np
import pytest

from seginterp.data.prepared import write_manifest, write_split
from seginterp.model.augment import AugmentConfig
from seginterp.model.fit import fit
from seginterp.model.net import ModelConfig, load_model
from seginterp.model.train import TrainConfig

TINY = ModelConfig(encoder="resnet18", decoder_channels=(16, 8, 8, 4, 4))


pytestmark = pytest.mark.usefixtures("one_thread")


def _prepared(d: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for split, n in (("train", 6), ("val", 2)):
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        write_split(d, split, images, (images[..., 0] > 127).astype(np.uint8))
        rows += [
            {"id": f"{split}{i}", "split": split, "index": i, "image_path": "", "mask_path": "",
             "orig_height": 32, "orig_width": 32, "group": f"{split}{i}"}
            for i in range(n)
        ]  # fmt: skip
    write_manifest(d, rows)
    return d


def test_fit_writes_model_curves_and_summary(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=2, batch_size=3, augment=AugmentConfig(p=0.0), device="cpu")
    prepared = _prepared(tmp_path / "prepared")
    out, live = tmp_path / "model", tmp_path / "live"
    result, summary = fit(TINY, cfg, prepared, out, live, tmp_path / "resume")
    assert list(summary) == [
        "best_epoch", "best_val_iou", "epochs", "resumed_from_epoch", "n_train", "n_val", "model"
    ]  # fmt: skip
    assert (summary["n_train"], summary["n_val"], summary["epochs"]) == (6, 2, 2)
    assert summary["best_epoch"] == result.best_epoch and summary["model"]["encoder"] == "resnet18"
    _, model_cfg, extra = load_model(out / "model.pt")
    assert model_cfg == TINY and extra["best_epoch"] == result.best_epoch
    metrics = json.loads((live / "metrics.json").read_text())
    assert metrics["best/epoch"] == result.best_epoch and metrics["step"] == 1 and "val" in metrics
    assert not (tmp_path / "resume" / "last.pt").exists()
