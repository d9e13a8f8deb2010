"""Cascading randomisation: the blocks from the output back, cumulative and seeded; SSIM as
scikit-image computes it; the similarity of a map to itself and to an unrelated one."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import segmentation_models_pytorch as smp
import torch
from skimage.metrics import structural_similarity

from seginterp.evaluate.cascade import HEAD, cascade_models, map_similarity, ssim


def _unet() -> torch.nn.Module:
    torch.manual_seed(0)
    return smp.Unet("resnet18", encoder_weights=None, decoder_channels=(8, 8, 4, 4, 4)).eval()


def test_ssim_equals_scikit_image() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((20, 17))
    b = 0.6 * a + 0.4 * rng.random((20, 17))
    assert ssim(a, b) == pytest.approx(structural_similarity(a, b, data_range=1.0), abs=1e-12)
    assert ssim(a, a) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="side >= 7"):
        ssim(a[:5, :5], b[:5, :5])


def test_the_cascade_goes_from_the_head_back_to_the_input_cumulatively() -> None:
    model = _unet()
    steps = cascade_models(model, seed=0)
    names = [name for name, _, _ in steps]
    assert names[0] == HEAD and names[1] == "decoder5" and names[-1] == "encoder1"
    assert len(names) == 1 + 10
    shares = [share for _, share, _ in steps]
    # a layer without parameters of its own (the U-Net's encoder1 is the stem's ReLU) adds none;
    # the stem's convolution is in no named layer and stays trained
    assert all(a <= b for a, b in pairwise(shares)) and 0 < shares[0] and shares[-1] < 1.0
    trained = dict(model.named_parameters())
    first = dict(steps[0][2].named_parameters())
    changed = {k for k in trained if not torch.equal(trained[k], first[k])}
    assert changed and all(k.startswith("segmentation_head.") for k in changed)
    last = dict(steps[-1][2].named_parameters())
    head = "segmentation_head.0.weight"
    assert torch.equal(first[head], last[head])  # cumulative: a block stays as first re-drawn
    again = cascade_models(model, seed=0)
    for (_, _, a), (_, _, b) in zip(steps, again, strict=True):
        b_params = dict(b.named_parameters())
        assert all(torch.equal(p, b_params[k]) for k, p in a.named_parameters())
    other = dict(cascade_models(model, seed=1)[0][2].named_parameters())
    assert not torch.equal(other[head], first[head])
    assert all(torch.equal(p, trained[k]) for k, p in model.named_parameters())  # untouched


def test_a_map_is_similar_to_itself_and_not_to_noise() -> None:
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:32, :32]
    blob = np.exp(-((yy - 16.0) ** 2 + (xx - 12.0) ** 2) / 20)[None].repeat(3, 0)
    same = map_similarity(blob, blob)
    assert same["spearman"] == pytest.approx(1.0) and same["ssim"] == pytest.approx(1.0)
    noise = map_similarity(blob, rng.normal(size=(3, 32, 32)))
    assert abs(noise["spearman"]) < 0.2 and noise["ssim"] < 0.2
    assert map_similarity(blob, np.zeros((3, 32, 32)))["ssim"] is None
