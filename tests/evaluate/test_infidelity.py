import copy
from collections.abc import Callable

import numpy as np
import pytest
import torch
from captum.attr import Saliency
from captum.metrics import infidelity as captum_infidelity
from evaluate.toys import S, border_f, square_border, tiny_unet
from torch import Tensor, nn

from seginterp.evaluate.functions import ScoredFunction, image_seed
from seginterp.evaluate.infidelity import (
    ScoredMap,
    chance_skill,
    infidelity_scores,
    score_maps,
    standard_noise,
)
from seginterp.explain.store import MapKey


def broadcast_map(attr: Tensor | np.ndarray, channels: int = 3) -> Tensor:
    """A map as (C, H, W): model maps pass through, layer maps (H, W) are repeated per channel."""
    a = torch.as_tensor(np.asarray(attr) if not isinstance(attr, Tensor) else attr)
    if a.ndim == 2:
        return a.unsqueeze(0).expand(channels, *a.shape)
    if a.ndim == 3 and a.shape[0] in (1, channels):
        return a.expand(channels, *a.shape[1:])
    raise ValueError(f"map must be (H, W) or ({channels}, H, W), got {tuple(a.shape)}")


def captum_perturb_func(sigma: float, seed: int) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """A ``perturb_func`` for ``captum.metrics.infidelity`` drawing the same ``I`` as
    :func:`score_maps` (one input example, ``max_examples_per_batch=None``): returns ``(I, x − I)``.
    """

    def perturb(inputs: Tensor) -> tuple[Tensor, Tensor]:
        noise = standard_noise(tuple(inputs.shape[1:]), inputs.shape[0], seed) * float(sigma)
        noise = noise.to(inputs)
        return noise, inputs - noise

    return perturb


@pytest.fixture(scope="module")
def unet():
    return tiny_unet()


@pytest.fixture(scope="module")
def unet64(unet):
    """float64 twin: checks of equal formulas without float32 cancellation in f(x) − f(x − I)."""
    return copy.deepcopy(unet).double()


def _maps(model, x, border):
    """saliency (3,H,W), a random model-level map, a layer-like (H,W) map, the zero map."""
    f = border_f(model, border)
    sal = Saliency(f).attribute(x.clone(), abs=False)[0].detach()
    g = torch.Generator().manual_seed(5)
    return {
        MapKey("saliency"): sal,
        MapKey("random"): torch.randn(3, S, S, generator=g) * sal.abs().max(),
        MapKey("fake", "encoder1"): torch.randn(S, S, generator=g) * sal.abs().max(),
        MapKey("zero"): torch.zeros(3, S, S),
    }


@pytest.mark.parametrize(
    "dtype,images,sigmas,rtol",
    [(torch.float64, (0, 1), (0.03,), 1e-6), (torch.float32, (2,), (0.03, 0.1), 2e-3)],
)
def test_matches_captum_infidelity(unet, unet64, dtype, images, sigmas, rtol):
    """Same perturbation function and seed as captum.metrics.infidelity; float64 removes the
    float32 cancellation in f(x) − f(x − I), so the formulas must agree to 1e-6 there (the rest:
    BorderMeanLogit keeps 1/|B| as a float32 buffer, a constant relative factor ~6e-8)."""
    model = unet64 if dtype == torch.float64 else unet
    border = square_border()
    fn = ScoredFunction.border_mean(border)
    n, seed = 16, image_seed(0, "img")
    f = border_f(model, border)
    for img_seed in images:
        x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(img_seed)).to(dtype)
        maps = _maps(model, x, border)
        recs = score_maps(
            model,
            x,
            [ScoredMap(k, v.to(dtype), fn) for k, v in maps.items()],
            sigmas=sigmas,
            n_perturb_samples=n,
            seed=seed,
        )
        assert len(recs) == len(maps) * len(sigmas)
        for r in recs:
            attr = broadcast_map(maps[r["key"]]).to(dtype)[None]
            for normalize, ours in ((False, "infidelity"), (True, "infidelity_normalized")):
                ref = captum_infidelity(
                    f,
                    captum_perturb_func(r["sigma"], seed),
                    x,
                    attr,
                    n_perturb_samples=n,
                    normalize=normalize,
                ).item()
                assert r[ours] == pytest.approx(ref, rel=rtol, abs=rtol * r["zero"]), (
                    r["key"],
                    r["sigma"],
                    normalize,
                )


def test_zero_map_scores_mean_squared_delta(unet64):
    unet = unet64
    border = square_border()
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(3)).double()
    n, seed, sigma = 12, 7, 0.05
    recs = score_maps(
        unet,
        x,
        [ScoredMap(MapKey("zero"), torch.zeros(3, S, S), ScoredFunction.border_mean(border))],
        [sigma],
        n,
        seed,
        batch_size=5,  # batching must not change anything
    )
    f = border_f(unet, border)
    noise = captum_perturb_func(sigma, seed)(x.repeat(n, 1, 1, 1))[0]
    with torch.no_grad():
        delta = (f(x) - f(x - noise)).double()
    (r,) = recs
    e = float((delta**2).mean())
    assert r["zero"] == pytest.approx(e, rel=1e-6)  # 1/|B| is a float32 buffer in f
    assert r["infidelity"] == r["zero"]
    assert r["infidelity_normalized"] == r["zero"]  # β = 0 (Captum safe_div)
    assert r["skill"] == 0.0 and r["skill_normalized"] == 0.0 and r["beta"] == 0.0


def test_gradient_of_a_linear_model_has_zero_infidelity_and_skill_one():
    torch.manual_seed(0)
    lin = nn.Conv2d(3, 1, 1).eval()  # z = w · x + b per pixel: f is linear in x
    border = square_border()
    fn = ScoredFunction.border_mean(border)
    x = torch.rand(1, 3, S, S)
    f = border_f(lin, border)
    grad = Saliency(f).attribute(x, abs=False)[0].detach()
    recs = score_maps(
        lin,
        x,
        [ScoredMap(MapKey("saliency"), grad, fn), ScoredMap(MapKey("half"), grad / 2, fn)],
        [0.03],
        50,
        0,
    )
    exact, half = recs
    assert exact["infidelity"] == pytest.approx(0.0, abs=1e-9 * exact["zero"])
    assert exact["skill"] == pytest.approx(1.0, abs=1e-6)
    assert exact["skill_normalized"] == pytest.approx(1.0, abs=1e-6)
    # a rescaled gradient: unnormalized skill = 1 − 1/4, normalize=True recovers β = 2
    assert half["skill"] == pytest.approx(0.75, abs=1e-5)
    assert half["beta"] == pytest.approx(2.0, rel=1e-5)
    assert half["skill_normalized"] == pytest.approx(1.0, abs=1e-6)


def test_infidelity_scores_formula_and_chance_level():
    rng = np.random.default_rng(0)
    n, k = 50, 2000
    b = torch.from_numpy(rng.normal(size=n))
    a = torch.from_numpy(rng.normal(size=(k, n)))  # projections unrelated to b
    s = infidelity_scores(a, b)
    manual = ((a - b) ** 2).mean(1)
    torch.testing.assert_close(s["infidelity"], manual)
    assert (s["infidelity_normalized"] <= s["zero"] + 1e-12).all()
    # normalized skill of unrelated maps averages 1/n, not 0
    assert float(s["skill_normalized"].mean()) == pytest.approx(chance_skill(n, True), rel=0.1)
    assert chance_skill(n, False) == 0.0


def test_layer_maps_broadcast_over_channels(unet):
    fn = ScoredFunction.border_mean(square_border())
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(4))
    layer = torch.randn(S, S, generator=torch.Generator().manual_seed(9))
    args = ([0.03], 8, 1)
    (a,) = score_maps(unet, x, [ScoredMap(MapKey("x", "y"), layer, fn)], *args)
    (b,) = score_maps(unet, x, [ScoredMap(MapKey("x"), layer.expand(3, S, S).clone(), fn)], *args)
    for key in ("infidelity", "infidelity_normalized", "zero", "map_l2"):
        assert a[key] == pytest.approx(b[key], rel=1e-9)


def test_sampled_map_is_scored_against_its_own_function(unet):
    border = square_border()
    sample = np.zeros_like(border)
    sample[8, 8:16] = True
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(2))
    functions = [ScoredFunction.border_mean(border), ScoredFunction.sample_mean(sample)]
    zero = torch.zeros(3, S, S)
    full, own = score_maps(
        unet,
        x,
        [ScoredMap(MapKey("a"), zero, functions[0]), ScoredMap(MapKey("b"), zero, functions[1])],
        [0.05],
        8,
        0,
        functions=functions,
    )
    f_own = border_f(unet, sample)
    noise = captum_perturb_func(0.05, 0)(x.repeat(8, 1, 1, 1))[0]
    with torch.no_grad():
        e = float(((f_own(x) - f_own(x - noise)).double() ** 2).mean())
    assert own["zero"] == pytest.approx(e, rel=1e-5)
    assert full["zero"] != pytest.approx(e, rel=1e-2)
    with pytest.raises(ValueError, match="functions"):
        score_maps(unet, x, [ScoredMap(MapKey("b"), zero, functions[1])], [0.05], 8, 0,
                   functions=functions[:1])  # fmt: skip
