import numpy as np
import pytest
import torch

from seginterp.model.batches import SegmentationArrays, evaluate
from seginterp.model.losses import LossWeights
from seginterp.model.net import ModelConfig, build_model


def test_items_are_float_tensors_in_model_layout() -> None:
    images = np.full((2, 8, 10, 3), 255, np.uint8)
    masks = np.ones((2, 8, 10), np.uint8)
    x, y = SegmentationArrays(images, masks)[1]
    assert x.shape == (3, 8, 10) and y.shape == (1, 8, 10)
    assert x.dtype == y.dtype == torch.float32 and float(x.max()) == 1.0 and float(y.min()) == 1.0
    with pytest.raises(ValueError, match="do not match"):
        SegmentationArrays(images, masks[:, :4])


def test_evaluate_scores_in_range() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(encoder="resnet18", decoder_channels=(16, 8, 8, 4, 4)))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    masks = (rng.random((3, 32, 32)) > 0.5).astype(np.uint8)
    out = evaluate(model, images, masks, 2, torch.device("cpu"), LossWeights())
    assert list(out) == ["loss", "iou", "dice"]
    assert out["loss"] > 0 and 0 <= out["iou"] <= 1 and 0 <= out["dice"] <= 1
    assert not model.training
