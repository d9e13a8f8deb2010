import numpy as np
import pytest
import torch
from evaluate.toys import S, border_f, square_border, tiny_unet

from seginterp.evaluate.functions import (
    ScoredFunction,
    explained_change,
    flat_weights,
    image_functions,
    mean_logits,
    recompute_function,
    stored_map_function,
)
from seginterp.explain.store import ImageMaps


def _sample() -> np.ndarray:
    s = np.zeros((S, S), dtype=bool)
    s[8, 8:12] = True
    return s


def test_labels_and_weights():
    border = square_border()
    fn = ScoredFunction.border_mean(border)
    assert fn.label == "border_mean"
    assert float(fn.weights.sum()) == 1.0 and fn.weights.dtype == torch.float64
    assert ScoredFunction.sample_mean(_sample()).label == "sample_mean(4)"
    assert fn != ScoredFunction.border_mean(border)  # identity: one object per function


def test_stored_maps_are_scored_against_their_own_pixels():
    with_sample = image_functions(ImageMaps(square_border(), "ok", _sample()))
    assert [f.label for f in with_sample] == ["border_mean", "sample_mean(4)"]
    assert stored_map_function("one-pass", with_sample) == (with_sample[0], "border_mean", False)
    assert stored_map_function("sampled(4)", with_sample)[1:] == ("sample_mean(4)", False)
    without = image_functions(ImageMaps(square_border(), "ok"))
    fn, label, mismatch = stored_map_function("sampled(4)", without)
    assert fn is without[0] and mismatch
    assert label == "border_mean (map is sampled(4): no sample stored)"


def test_recomputed_maps_are_reduced_to_max_pixels():
    image = ImageMaps(square_border(), "ok", _sample())
    fn, reduced = recompute_function("exact", image, "im0", 5, seed=0)
    assert reduced and fn.label == "sample_mean(5)" and (fn.pixels <= image.border).all()
    again, _ = recompute_function("exact", image, "im0", 5, seed=0)
    assert (again.pixels == fn.pixels).all()  # seeded
    assert recompute_function("one-pass", image, "im0", 5, 0)[0].label == "border_mean"
    assert recompute_function("sampled(4)", image, "im0", 5, 0)[0].label == "sample_mean(4)"
    assert recompute_function("exact", image, "im0", None, 0)[1] is False


def test_explained_change_is_f_at_the_image_and_at_its_baseline():
    """(f(x), f(x₀)) of each pixel set's mean logit, from one forward of x and x₀: the change
    Δf a reference-based map sums to, whose sign the border-sign claim reads."""
    model, border = tiny_unet(), square_border()
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(0))
    x0 = torch.zeros_like(x)
    (fx, f0), (gx, g0) = explained_change(model, x, x0, [border, _sample()])
    with torch.no_grad():
        assert fx == pytest.approx(float(border_f(model, border)(x)), rel=1e-5)
        assert f0 == pytest.approx(float(border_f(model, border)(x0)), rel=1e-5)
        assert gx == pytest.approx(float(border_f(model, _sample())(x)), rel=1e-5)
    assert (fx, f0) != (gx, g0)


def test_mean_logits_are_each_weights_mean_of_each_output():
    """(b, m): output i's logits weighted by pixel set j, one forward for every function."""
    model, border = tiny_unet(), square_border()
    x = torch.rand(3, 3, S, S, generator=torch.Generator().manual_seed(1))
    sets = [border, _sample()]
    w = flat_weights(torch.stack([ScoredFunction.border_mean(p).weights for p in sets]), x.device)
    with torch.no_grad():
        f = mean_logits(model, x, w)
        assert f.shape == (3, 2) and f.dtype == torch.float64
        for j, p in enumerate(sets):
            want = border_f(model, p)(x).to(torch.float64)
            assert torch.allclose(f[:, j], want, rtol=1e-5)
    with pytest.raises(ValueError, match=r"\(m, H, W\)"):
        flat_weights(torch.ones(S, S), x.device)
