import pytest
import torch

from seginterp.model.losses import LossWeights, segmentation_loss, soft_dice, soft_iou


def test_perfect_prediction_has_only_bce_left():
    t = torch.zeros(2, 1, 8, 8)
    t[:, :, 2:6, 2:6] = 1
    logits = (t * 2 - 1) * 50  # saturated, correct
    loss, parts = segmentation_loss(logits, t)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert parts["soft_iou"].item() == pytest.approx(1.0, abs=1e-6)


def test_terms_are_per_image_then_averaged():
    torch.manual_seed(0)
    logits = torch.randn(3, 1, 6, 6)
    t = (torch.rand(3, 1, 6, 6) > 0.5).float()
    w = LossWeights(bce=0.5, iou=2.0, dice=1.0)
    loss, _ = segmentation_loss(logits, t, w)
    per = [segmentation_loss(logits[i : i + 1], t[i : i + 1], w)[0] for i in range(3)]
    assert loss.item() == pytest.approx(torch.stack(per).mean().item(), rel=1e-6)
    p = torch.sigmoid(logits)
    bce = torch.nn.functional.binary_cross_entropy(p, t, reduction="none").flatten(1).mean(1)
    manual = (0.5 * bce + 2 * (1 - soft_iou(p, t)) + (1 - soft_dice(p, t))).mean()
    assert loss.item() == pytest.approx(manual.item(), rel=1e-5)


def test_soft_scores_match_hard_scores_on_binary_input():
    t = torch.zeros(1, 1, 10, 10)
    t[..., :5, :] = 1
    p = torch.zeros(1, 1, 10, 10)
    p[..., :5, :5] = 1
    # inter 25, union 50 -> IoU 0.5 (plus smoothing 1)
    assert soft_iou(p, t).item() == pytest.approx(26 / 51)
    assert soft_dice(p, t).item() == pytest.approx(51 / 76)


def test_shape_mismatch_and_bad_weights_are_errors():
    with pytest.raises(ValueError, match="differ"):
        segmentation_loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(ValueError, match="loss weights"):
        LossWeights(bce=0, iou=0, dice=0)
