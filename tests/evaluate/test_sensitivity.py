import numpy as np
import pytest
import torch
from captum.attr import Saliency
from evaluate.sensitivity_reference import sensitivity
from evaluate.toys import S, border_f, square_border, tiny_unet
from torch import nn

from seginterp.evaluate.config import EvaluateConfig
from seginterp.evaluate.functions import image_seed, recompute_function
from seginterp.evaluate.sensitivity import replayed_sensitivity, sensitivity_rows
from seginterp.explain.config import AttributeConfig
from seginterp.explain.engine import Explainer
from seginterp.explain.store import ImageMaps, MapKey


def test_the_reference_sensitivity_is_seeded_and_zero_for_a_constant_map():
    torch.manual_seed(0)
    lin = nn.Conv2d(3, 1, 1).eval()
    f = border_f(lin, square_border())

    def grad(x):
        return Saliency(f).attribute(x, abs=False)

    x = torch.rand(1, 3, S, S)
    assert sensitivity(grad, x, 0.02, 3, seed=0) == pytest.approx(0.0, abs=1e-6)

    def input_times_grad(x):  # depends on x: perturbations move the map
        return x * grad(x)

    s1 = sensitivity(input_times_grad, x, 0.02, 3, seed=0)
    assert s1 > 1e-3
    assert s1 == sensitivity(input_times_grad, x, 0.02, 3, seed=0)  # seeded


LAYERS = ("encoder2", "decoder5")


def _explained_image():
    """Stored maps of every kind: one-pass (model level, two layer methods at two layers) and
    sampled (two nonlinear methods over a stored sample of 5 border pixels)."""
    cfg = AttributeConfig(
        methods=("saliency", "guided_backprop", "guided_gradcam"),
        layer_methods=("gradcam", "deeplift"),
        layers=LAYERS,
        guided_gradcam_layer="decoder5",
        device="cpu",
    )
    explainer = Explainer(tiny_unet(), cfg, device="cpu")
    border = square_border()
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(0))
    sample = np.zeros_like(border)
    sample.flat[np.flatnonzero(border)[::12]] = True
    stored = ImageMaps(border=border, status="ok", sample=sample)
    keys = [MapKey(m) for m in cfg.methods]
    keys += [MapKey(m, layer) for m in cfg.layer_methods for layer in LAYERS]
    for key in keys:
        nonlinear = key.method.startswith("guided")
        pixels = sample if nonlinear else border
        stored.maps[key] = explainer.map(key.method, x, pixels, layer=key.layer)[0].numpy()
        stored.modes[key] = f"sampled({int(sample.sum())})" if nonlinear else "one-pass"
    return explainer, x, stored


def test_sensitivity_rows_tick_per_input_and_keep_their_values(one_thread):
    """On 2 threads, CPU kernels gave float32 values that differ in the last bits between calls
    (measured: 0.24668287 vs 0.24668284 in 2 of 5 runs, never on 1 thread)."""
    explainer, x, stored = _explained_image()
    cfg = EvaluateConfig(sensitivity_samples=3, device="cpu")
    ticks = []
    rows = sensitivity_rows(explainer, x, "img", 0, stored, cfg, progress=ticks.append)
    assert ticks == [1] * (3 + 1)  # the unperturbed input, then each perturbed one
    again = sensitivity_rows(explainer, x, "img", 0, stored, cfg)  # its own tqdm bar
    assert len(rows) == len(stored.maps)
    for a, b in zip(rows, again, strict=True):
        assert a["sensitivity"] == b["sensitivity"]  # same draws, same order
        assert a["sensitivity"] > 0
        assert a["recompute_rel_l2"] == pytest.approx(0.0, abs=1e-5)


def test_sensitivity_rows_equal_one_captum_call_per_map_bitwise(one_thread):
    """The shared passes change no bit: each row's value is that of ``sensitivity`` (Captum
    ``sensitivity_max``) re-explaining its map alone with ``Explainer.map``, as before; a
    re-computation over fewer pixels (``recompute_max_pixels``) too."""
    explainer, x, stored = _explained_image()
    for max_pixels in (None, 3):
        cfg = EvaluateConfig(sensitivity_samples=2, recompute_max_pixels=max_pixels, device="cpu")
        rows = sensitivity_rows(explainer, x, "img", 0, stored, cfg, progress=lambda _: None)
        seed = image_seed(cfg.seed + 1, "img")
        for key, row in zip(stored.maps, rows, strict=True):
            function, reduced = recompute_function(
                stored.modes[key], stored, "img", max_pixels, cfg.seed
            )
            assert reduced == (max_pixels is not None and key.method.startswith("guided"))
            assert row["function"] == function.label and row["layer"] == key.layer

            def alone(xb, key=key, pixels=function.pixels):
                return explainer.map(key.method, xb, pixels, layer=key.layer)

            want = sensitivity(alone, x, cfg.sensitivity_radius, 2, seed)
            assert row["sensitivity"] == want, (key, max_pixels)


def test_replayed_maps_must_be_those_of_the_perturbed_inputs():
    x = torch.rand(1, 3, 4, 4)
    maps = torch.rand(2, 1, 4, 4)
    wrong = x.repeat_interleave(2, dim=0)  # not perturbed
    with pytest.raises(RuntimeError, match="other inputs"):
        replayed_sensitivity(x, maps[:1], wrong, maps, 0.02, seed=0)
