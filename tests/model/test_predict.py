from pathlib import Path

import numpy as np
import pytest
import torch

from seginterp.data.prepared import write_manifest, write_split
from seginterp.model.net import ModelConfig, build_model, save_model
from seginterp.model.predict import PredictConfig, predict_probs, predict_test

TINY = ModelConfig(encoder="resnet18", decoder_channels=(16, 8, 8, 4, 4))


def test_bad_config_values_are_errors():
    with pytest.raises(ValueError, match="threshold"):
        PredictConfig(threshold=1.5)


def test_predict_test_split(tmp_path: Path) -> None:
    torch.manual_seed(0)
    save_model(tmp_path / "model.pt", build_model(TINY), TINY)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    masks = np.zeros((3, 32, 32), np.uint8)
    masks[0, 4:20, 4:20] = 1
    write_split(tmp_path, "test", images, masks)
    rows = [
        {"id": f"t{i}", "split": "test", "index": i, "image_path": "", "mask_path": "",
         "orig_height": 32, "orig_width": 32, "group": f"t{i}"}
        for i in range(3)
    ]  # fmt: skip
    write_manifest(tmp_path, rows)
    cfg = PredictConfig(threshold=0.5, batch_size=2, device="cpu")
    pred = predict_test(tmp_path, tmp_path / "model.pt", cfg)
    assert pred.probs.shape == (3, 32, 32) and pred.probs.dtype == np.float32
    assert np.array_equal(pred.masks, (pred.probs > 0.5).astype(np.uint8))
    assert list(pred.table.columns) == ["id", "index", "iou", "dice", "pred_area", "true_area"]
    assert pred.table["id"].tolist() == ["t0", "t1", "t2"]
    assert pred.table["true_area"].tolist() == [256, 0, 0]
    assert list(pred.metrics) == ["mIoU", "mDice", "n", "threshold", "n_both_empty"]
    assert pred.metrics["n"] == 3 and pred.metrics["mIoU"] == pytest.approx(pred.table.iou.mean())


def test_predict_probs_of_no_images() -> None:
    model = build_model(TINY)
    out = predict_probs(model, np.zeros((0, 32, 32, 3), np.uint8), 4, torch.device("cpu"))
    assert out.shape == (0, 32, 32) and out.dtype == np.float32
