import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from evaluate.toys import S, square_border
from torch import nn

from seginterp.evaluate.functions import ScoredFunction
from seginterp.evaluate.infidelity import ScoredMap, score_maps
from seginterp.evaluate.layer_infidelity import (
    activation_records,
    broadcast_batch,
    layer_deltas,
    layer_gradients,
    layer_outputs,
    subtract_from_output,
)
from seginterp.explain.store import MapKey


class Pooled(nn.Module):
    """conv -> avg-pool by ``k`` (the explained layer, stride k) -> upsample -> 1x1 head: a toy
    whose layer map at a coarse or a fine layer can be compared."""

    def __init__(self, k: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.AvgPool2d(k)
        self.head = nn.Conv2d(4, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.pool(torch.tanh(self.conv(x)))
        return self.head(F.interpolate(a, size=x.shape[-2:], mode="nearest"))


def _layer_gradient(model: Pooled, x: torch.Tensor, border: np.ndarray) -> torch.Tensor:
    """Σ_c ∂f/∂A_c at the pooled layer, (h, w)."""
    w = torch.from_numpy(border).float() / border.sum()
    seen = []
    h = model.pool.register_forward_hook(lambda _m, _i, o: seen.append(o))
    f = (model(x)[0, 0] * w).sum()
    h.remove()
    return torch.autograd.grad(f, seen[0])[0][0].sum(0)


def _skills(k: int) -> tuple[dict, dict]:
    """Activation-space and paper-convention records of the layer gradient of ``Pooled(k)``."""
    model = Pooled(k).eval()
    border = square_border()
    fn = ScoredFunction.border_mean(border)
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(1))
    g = _layer_gradient(model, x, border).detach()
    (act,) = activation_records(
        model, x, [ScoredMap(MapKey("grad", "pool"), g, fn)], {"pool": model.pool}, [0.01], 50, 0
    )
    up = F.interpolate(g[None, None], size=(S, S), mode="bilinear", align_corners=False)[0, 0]
    (paper,) = score_maps(model, x, [ScoredMap(MapKey("grad", "pool"), up, fn)], [0.01], 50, 0)
    return act, paper


def test_layer_gradient_scores_one_in_activation_space_at_any_resolution():
    """Defect 2: under the paper's convention (bilinear upsampling, total × k², copied onto the
    channels) the same faithful map's unnormalized skill falls with the layer's resolution
    (measured: −0.61 at k = 2, −191 at k = 8). In activation space the channel-summed gradient
    scores 1 at both."""
    (act2, paper2), (act8, paper8) = _skills(2), _skills(8)
    for act in (act2, act8):
        assert act["skill"] == pytest.approx(1.0, abs=0.02)
        assert act["skill_normalized"] == pytest.approx(1.0, abs=0.02)
        assert act["proj_rms_ratio"] == pytest.approx(1.0, abs=0.05)
    assert paper8["skill"] < 100 * paper2["skill"] < 0  # resolution dominates the paper's score
    assert paper8["proj_rms_ratio"] > 10 * paper2["proj_rms_ratio"]


def test_each_record_carries_its_layers_ceiling_the_gradient_on_the_same_draws():
    """The ceiling is the channel-summed gradient scored on the map's own draws: a map equal to
    that gradient scores exactly its ceiling; a half-size map scores below it."""
    model = Pooled(4).eval()
    border = square_border()
    fn = ScoredFunction.border_mean(border)
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(1))
    (g,) = layer_gradients(model, x, {"pool": model.pool}, fn.weights[None]).values()
    assert g.shape == (1, S // 4, S // 4)
    assert torch.allclose(g[0], _layer_gradient(model, x, border).double(), atol=1e-6)
    maps = [ScoredMap(MapKey("grad", "pool"), g[0].float(), fn),
            ScoredMap(MapKey("half", "pool"), 0.5 * g[0].float(), fn)]  # fmt: skip
    grad, half = activation_records(model, x, maps, {"pool": model.pool}, [0.01], 50, 0)
    for r in (grad, half):
        assert r["ceiling_infidelity"] == pytest.approx(grad["infidelity"], rel=1e-5)
    assert half["infidelity"] > 10 * half["ceiling_infidelity"]


def layer_output(model: nn.Module, x: torch.Tensor, module: nn.Module) -> torch.Tensor:
    return layer_outputs(model, x, {"m": module})["m"]


def test_hook_subtracts_the_noise_and_is_removed():
    model = Pooled(2).eval()
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(2))
    a = layer_output(model, x, model.pool)
    assert a.shape == (1, 4, S // 2, S // 2)
    holder = [torch.ones(1, 1, S // 2, S // 2)]
    with subtract_from_output(model.pool, holder):
        torch.testing.assert_close(layer_output(model, x, model.pool), a - 1)
    torch.testing.assert_close(layer_output(model, x, model.pool), a)  # hook gone


def test_layer_deltas_match_a_manual_forward_and_batching():
    model = Pooled(4).eval()
    border = square_border()
    w = ScoredFunction.border_mean(border).weights[None]
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(3))
    noise = torch.randn(7, 1, S // 4, S // 4, generator=torch.Generator().manual_seed(4))
    d1 = layer_deltas(model, x, model.pool, noise, w, batch_size=3)
    d2 = layer_deltas(model, x, model.pool, noise, w, batch_size=25)
    torch.testing.assert_close(d1, d2)
    with torch.no_grad():
        a = layer_output(model, x, model.pool)
        z0 = model.head(F.interpolate(a, size=(S, S)))[0, 0]
        z1 = model.head(F.interpolate(a - noise[2:3], size=(S, S)))[0, 0]
    wt = w[0].float()
    assert float(d1[2, 0]) == pytest.approx(float((z0 * wt).sum() - (z1 * wt).sum()), rel=1e-4)


def test_activation_records_refuse_model_maps_and_are_seeded():
    model = Pooled(2).eval()
    fn = ScoredFunction.border_mean(square_border())
    x = torch.rand(1, 3, S, S)
    with pytest.raises(ValueError, match="native"):
        activation_records(model, x, [ScoredMap(MapKey("m"), torch.zeros(3, S, S), fn)],
                           {}, [0.03], 4, 0)  # fmt: skip
    m = ScoredMap(MapKey("g", "pool"), torch.randn(S // 2, S // 2), fn)
    r1 = activation_records(model, x, [m], {"pool": model.pool}, [0.03], 6, 5)
    r2 = activation_records(model, x, [m], {"pool": model.pool}, [0.03], 6, 5)
    assert r1 == r2 and r1[0]["perturb_std"] > 0


def _full_deltas(model, x, module, noise, w):
    """Δf from b full forwards of the perturbed layer (no broadcasting)."""
    wf = w.to(torch.float64).flatten(1)
    with torch.no_grad():
        fx = model(x)[:, 0].flatten(1).double() @ wf.T
        holder = [noise]
        with subtract_from_output(module, holder):
            fb = model(x.expand(len(noise), -1, -1, -1))[:, 0].flatten(1).double() @ wf.T
    return fx - fb


@pytest.mark.parametrize(
    ("architecture", "channels"),
    [("unet", (16, 8, 8)), ("unetplusplus", (16, 8, 8)), ("linknet", (8, 8, 8)),
     ("fpn", (32, 32, 8, 8, 8)), ("deeplabv3plus", (16, 16, 16, 16, 16))],
)  # fmt: skip
def test_partial_forwards_equal_full_forwards_on_models_with_skips(architecture, channels):
    from seginterp.explain.layers import get_layer, layer_table
    from seginterp.model.net import ModelConfig, build_model

    torch.manual_seed(0)
    cfg = ModelConfig(architecture=architecture, encoder="resnet18", decoder_channels=channels)
    model = build_model(cfg).eval()
    x = torch.rand(1, 3, 2 * S, 2 * S, generator=torch.Generator().manual_seed(1))
    w = ScoredFunction.border_mean(np.pad(square_border(), S // 2)).weights[None]
    for name in layer_table(model):
        module = get_layer(model, name)
        a = layer_output(model, x, module)
        noise = torch.randn(5, 1, *a.shape[-2:], generator=torch.Generator().manual_seed(2))
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("error")  # no fallback to full forwards
            partial = layer_deltas(model, x, module, noise, w, batch_size=3)
        torch.testing.assert_close(partial, _full_deltas(model, x, module, noise, w),
                                   rtol=1e-4, atol=1e-6, msg=f"{architecture} {name}")  # fmt: skip


class _Stacked(nn.Module):
    """A model that mixes its layer's output with an unperturbed branch by concatenation in its
    own forward (no submodule sees both): partial forwards fail and full ones take over."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Conv2d(3, 2, 1), nn.Conv2d(3, 2, 1)
        self.head = nn.Conv2d(1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        both = torch.cat([self.a(x), self.b(x)], dim=0)  # (2B, 2, H, W)
        return self.head(both.sum(1, keepdim=True))[: len(x)] + both[len(x) :, :1]


def test_a_model_that_cannot_broadcast_gets_full_forwards_with_a_warning():
    model = _Stacked().eval()
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(1))
    w = ScoredFunction.border_mean(square_border()).weights[None]
    noise = torch.randn(4, 1, S, S, generator=torch.Generator().manual_seed(2))
    with pytest.warns(UserWarning, match="full forwards"):
        d = layer_deltas(model, x, model.a, noise, w, batch_size=3)
    torch.testing.assert_close(d, _full_deltas(model, x, model.a, noise, w))


def test_broadcast_batch_expands_batch_one_inputs_when_mixed_or_within():
    seen = []

    class Cat(nn.Module):
        def forward(self, u, v):
            seen.append((u.shape[0], v.shape[0]))
            return torch.cat([u, v], dim=1)

    m = Cat()
    with broadcast_batch(m, 4):
        m(torch.zeros(1, 2), torch.zeros(4, 2))
        m(torch.zeros(1, 2), torch.zeros(1, 2))
    with broadcast_batch(m, 4, within=[m]):
        m(torch.zeros(1, 2), torch.zeros(1, 2))
    assert seen == [(4, 4), (1, 1), (4, 4)]
    with pytest.raises(RuntimeError):
        m(torch.zeros(1, 2), torch.zeros(4, 2))  # the hooks are gone


class Rescaled(nn.Module):
    """conv -> ReLU (the explained layer, its units × c) -> conv (weights / c) -> head: the same
    f for every c (ReLU is positively homogeneous)."""

    def __init__(self, c: float) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.act = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()
        self.mid, self.head = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 1, 1)
        with torch.no_grad():
            self.conv.weight *= c
            self.conv.bias *= c
            self.mid.weight /= c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.mid(self.act(self.conv(x)))))


def _gradcam_records(c: float) -> dict:
    """The activation-space record of the Grad-CAM map ReLU(Σ_k mean(∂f/∂A_k) A_k) at ``act``."""
    model, border = Rescaled(c).eval(), square_border()
    x = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(1))
    w = torch.from_numpy(border).float() / border.sum()
    seen = []
    h = model.act.register_forward_hook(lambda _m, _i, o: seen.append(o))
    f = (model(x)[0, 0] * w).sum()
    h.remove()
    a, g = seen[0], torch.autograd.grad(f, seen[0])[0]
    cam = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1))[0].detach()
    fn = ScoredFunction.border_mean(border)
    maps = [ScoredMap(MapKey("gradcam", "act"), cam, fn)]
    (rec,) = activation_records(model, x, maps, {"act": model.act}, [0.03], 50, 0)
    return rec


def test_rescaling_a_layers_units_moves_only_the_unnormalized_skill():
    """Defect 2: scaling a layer's output by c and the next convolution by 1/c leaves f and the
    Grad-CAM map unchanged; the noise, scaled to the layer's rms, grows by c, so the unnormalized
    skill moves and the normalized skill (the map's scale fitted) does not."""
    one, ten, hundred = (_gradcam_records(c) for c in (1.0, 10.0, 100.0))
    for other in (ten, hundred):
        assert other["skill_normalized"] == pytest.approx(one["skill_normalized"], rel=1e-4)
        assert other["map_l2"] == pytest.approx(one["map_l2"], rel=1e-4)
    # measured: −0.00052, −0.0054, −0.073 (the projections grow by c, the change of f does not)
    assert abs(hundred["skill"]) > 5 * abs(ten["skill"]) > 25 * abs(one["skill"]) > 0
