import pytest
import torch
from captum.attr import Saliency
from evaluate.toys import S, border_f, square_border
from torch import nn

from seginterp.evaluate.sensitivity import sensitivity, tuple_explainer


def test_sensitivity_uses_a_tuple_explainer():
    torch.manual_seed(0)
    lin = nn.Conv2d(3, 1, 1).eval()
    f = border_f(lin, square_border())

    def grad(x):
        return Saliency(f).attribute(x, abs=False)

    x = torch.rand(1, 3, S, S)
    out = tuple_explainer(grad)((x,))
    assert isinstance(out, tuple) and out[0].shape == (1, 3, S, S)
    assert sensitivity(grad, x, 0.02, 3, seed=0) == pytest.approx(0.0, abs=1e-6)

    def input_times_grad(x):  # depends on x: perturbations move the map
        return x * grad(x)

    s1 = sensitivity(input_times_grad, x, 0.02, 3, seed=0)
    assert s1 > 1e-3
    assert s1 == sensitivity(input_times_grad, x, 0.02, 3, seed=0)  # seeded
