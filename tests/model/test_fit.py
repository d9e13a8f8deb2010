import csv
import json
from pathlib import Path

import numpy as np
import pytest

from seginterp.data.prepared import write_manifest, write_split
from seginterp.model.augment import AugmentConfig
from seginterp.model.fit import fit, kept_summary
from seginterp.model.net import ModelConfig, load_model
from seginterp.model.train import TrainConfig, TrainResult

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
        "best_epoch", "best_val_iou", "epochs", "n_train", "n_val", "model"
    ]  # fmt: skip
    assert (summary["n_train"], summary["n_val"], summary["epochs"]) == (6, 2, 2)
    assert summary["best_epoch"] == result.best_epoch and summary["model"]["encoder"] == "resnet18"
    _, model_cfg, extra = load_model(out / "model.pt")
    assert model_cfg == TINY and extra["best_epoch"] == result.best_epoch
    metrics = json.loads((live / "metrics.json").read_text())
    kept = result.history[result.best_epoch - 1]
    assert metrics["kept_epoch"] == metrics["step"] == result.best_epoch
    assert metrics["val"]["iou"] == kept["val/iou"] == result.best_val_iou
    assert metrics["train"]["loss"] == kept["train/loss"] and metrics["epochs_run"] == 2
    with (live / "plots" / "metrics" / "val" / "iou.tsv").open() as f:
        steps = [row["step"] for row in csv.DictReader(f, delimiter="\t")]
    assert steps == ["1", "2"]  # 1-based, the numbering of best_epoch


def test_dvclive_summary_is_the_kept_epoch_not_the_last() -> None:
    history = [
        {"train/loss": 0.9, "val/iou": 0.5, "lr": 1e-3},
        {"train/loss": 0.5, "val/iou": 0.8, "lr": 1e-3},
        {"train/loss": 0.4, "val/iou": 0.2, "lr": 1e-3},
    ]
    result = TrainResult(2, 0.8, history, None, 1.0)
    assert kept_summary(result) == {
        "train": {"loss": 0.5}, "val": {"iou": 0.8}, "lr": 1e-3,
        "kept_epoch": 2, "epochs_run": 3, "step": 2,
    }  # fmt: skip
