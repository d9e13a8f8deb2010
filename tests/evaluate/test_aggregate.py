import numpy as np
import pandas as pd
import pytest

from seginterp.evaluate.aggregate import aggregate_infidelity, sigma_key


def test_sigma_key():
    assert sigma_key(0.03) == "sigma_0p03"


def _toy_table(n_img: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_img):
        zero = rng.uniform(1, 2)
        for norm in (False, True):
            vals = {
                ("model", "good", None): zero * 0.2,
                ("model", "empty", None): zero * rng.uniform(0.98, 1.02),
                ("layer", "gradcam", "encoder1"): zero * 0.5,
                ("layer", "deeplift", "encoder1"): zero * 0.9,
                ("layer", "gradcam", "decoder5"): zero * 0.6,
                ("layer", "deeplift", "decoder5"): zero * 0.6 * rng.uniform(0.9, 1.1),
            }
            for (level, method, layer), v in vals.items():
                rows.append(
                    {
                        "id": f"i{i}",
                        "sigma": 0.03,
                        "normalize": norm,
                        "level": level,
                        "method": method,
                        "layer": layer,
                        "mode": "one-pass",
                        "scored_function": "border_mean",
                        "function_mismatch": False,
                        "infidelity": v,
                        "zero": zero,
                        "skill": 1 - v / zero,
                        "map_l2": 1.0,
                    }
                )
    return pd.DataFrame(rows)


def test_aggregate_infidelity_tables():
    layers = ["encoder1", "decoder5"]
    out = aggregate_infidelity(_toy_table(), layers, n_perturb_samples=50, n_boot=200)
    blk = out["sigma_0p03"]
    u = blk["unnormalized"]
    assert u["model"]["good"]["skill"]["mean"] == pytest.approx(0.8)
    assert u["model"]["good"]["verdict"] == "better than an empty map"
    assert u["model"]["empty"]["no_better_than_empty_map"] is True
    assert u["model"]["empty"]["verdict"] == "no better than an empty map"
    assert u["model"]["good"]["infidelity"]["n"] == 12
    assert u["pairwise_model"]["good_vs_empty"]["better"] == "good"
    assert list(u["layer"]["gradcam"]) == layers
    pl = u["pairwise_layer"]
    assert pl["gradcam@encoder1_vs_deeplift@encoder1"]["better"] == "gradcam@encoder1"
    assert pl["gradcam@decoder5_vs_deeplift@decoder5"]["better"] is None
    assert u["pairwise_layer_method_overall"]["gradcam_vs_deeplift"]["better"] == "gradcam"
    n = blk["normalized"]
    assert n["model"]["empty"]["chance_skill"] == pytest.approx(0.02)
    assert n["model"]["empty"]["no_better_than_chance"] is True
    assert "than chance (1/n_perturb_samples)" in n["model"]["empty"]["verdict"]
    assert n["model"]["good"]["verdict"] == "better than chance (1/n_perturb_samples)"
