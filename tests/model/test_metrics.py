import numpy as np
import pytest
import segmentation_models_pytorch as smp
import torch

from seginterp.model.metrics import iou_dice, iou_dice_np


def test_iou_dice_equal_smp_metrics_on_random_masks():
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(16, 1, 32, 32, generator=g) > 0.5
    true = torch.rand(16, 1, 32, 32, generator=g) > 0.3
    iou, dice = iou_dice(pred, true)
    tp, fp, fn, tn = smp.metrics.get_stats(pred.long(), true.long(), mode="binary")
    ref_iou = smp.metrics.iou_score(tp, fp, fn, tn, reduction="none").flatten()
    ref_dice = smp.metrics.f1_score(tp, fp, fn, tn, reduction="none").flatten()
    torch.testing.assert_close(iou, ref_iou.double())
    torch.testing.assert_close(dice, ref_dice.double())
    # the paper's mIoU / mDice = mean of per-image scores = smp's "micro-imagewise"
    mi = smp.metrics.iou_score(tp, fp, fn, tn, reduction="micro-imagewise")
    assert iou.mean().item() == pytest.approx(mi.item(), rel=1e-6)


def test_empty_cases_are_documented_values():
    z = np.zeros((1, 4, 4), np.uint8)
    one = z.copy()
    one[0, 1, 1] = 1
    assert iou_dice_np(z, z) == (pytest.approx([1.0]), pytest.approx([1.0]))
    iou, dice = iou_dice_np(one, z)
    assert iou[0] == 0.0 and dice[0] == 0.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ"):
        iou_dice(torch.zeros(1, 3, 3), torch.zeros(1, 3, 4))
