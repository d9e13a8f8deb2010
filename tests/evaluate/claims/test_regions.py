"""The region claims, judged from the results table with the randomized-weights null."""

import pandas as pd
from evaluate.claims.inputs import (
    LAYERS,
    context,
    frag_rows,
    judged,
    layer_rows,
    measured,
    model_rows,
    null_rows,
    results,
    results_rows,
)

from seginterp.evaluate.claims.registry import CLAIMS


def test_a_region_claim_needs_the_null():
    """Defect 8: the same share on the randomized model (support-forced) is not held."""
    reg = pd.DataFrame(model_rows(10, "deeplift", 0.95))
    learned = measured(regions=reg, null=null_rows(10, 0.95, 0.5))
    forced = measured(regions=reg, null=null_rows(10, 0.95, 0.95))
    r = judged("border_only", learned, "deeplift")
    assert r["verdict"] == "held" and "stronger than the randomized model" in r["why"]
    r = judged("border_only", forced, "deeplift")
    assert r["verdict"] == "inconclusive" and "not different from the randomized model" in r["why"]
    r = judged("border_only", measured(regions=reg), "deeplift")
    assert r["verdict"] == "inconclusive" and "no null images" in r["why"]
    low = pd.DataFrame(model_rows(10, "deeplift", 0.5))
    r = judged("border_only", measured(regions=low, null=null_rows(10, 0.95, 0.5)), "deeplift")
    assert r["verdict"] == "not held"
    assert judged("border_sign", learned, "deeplift")["verdict"] == "held"


def test_the_band_null_is_the_null_sections_test():
    """border_only reads the regions_null section's band test: without those rows it has no
    null images, without that map's test no null maps."""
    reg = pd.DataFrame(model_rows(10, "deeplift", 0.95))
    frag = frag_rows().assign(convention=None)
    m = measured(frag=frag, regions=reg, null=null_rows(10, 0.95, 0.5))
    assert "stronger than the randomized model" in judged("border_only", m, "deeplift")["why"]
    spec, ctx = CLAIMS.get("border_only"), context(m)
    rows = [r for r in results_rows(m) if r["section"] != "regions_null"]
    assert "no null images" in spec.verdict(results(m, rows), ctx, "deeplift").why
    rows = [r for r in results_rows(m) if r.get("family") != "band"]
    assert spec.verdict(results(m, rows), ctx, "deeplift").why.endswith("but no null maps")


def test_coverage_compares_deeplift_with_the_papers_other_methods_only():
    """Defect 4: DeepLIFT is compared with Guided Backprop and Guided Grad-CAM, the methods the
    paper shows beside it, not with saliency or IG."""
    both = model_rows(10, "deeplift", 0.9) + model_rows(10, "guided_backprop", 0.9)
    reg = pd.DataFrame(both + model_rows(10, "saliency", 0.9))
    r = judged("deeplift_coverage", measured(regions=reg))
    assert r["verdict"] == "held" and "deeplift 0.3" in r["ours"] and "saliency" not in r["ours"]
    assert "saliency" not in r["why"] and "guided_backprop" in r["why"]
    reg = pd.DataFrame(model_rows(10, "deeplift", 0.9) + model_rows(10, "saliency", 0.9))
    r = judged("deeplift_coverage", measured(regions=reg))
    assert r["verdict"] == "inconclusive"
    assert r["why"] == "DeepLIFT or the paper's other methods not computed"


def test_a_pattern_the_randomized_model_shows_equally_is_untestable_either_way():
    """Defect 3: the null can refute as well as confirm. A depth trend against the claim that
    the randomized model shows equally is untestable on this architecture (it was "not held");
    against the claim and unlike the randomized model it is not held."""
    against = pd.DataFrame(layer_rows(8, "trained", -0.1))
    same = pd.DataFrame(layer_rows(8, "trained", -0.1) + layer_rows(8, "randomized", -0.1))
    r = judged("depth_focus", measured(regions=against, null=same, layer_order=LAYERS), "gradcam")
    assert r["verdict"] == "inconclusive"
    assert "untestable on this architecture: not different from the randomized" in r["why"]
    unlike = pd.DataFrame(layer_rows(8, "trained", -0.1) + layer_rows(8, "randomized", 0.1))
    r = judged("depth_focus", measured(regions=against, null=unlike, layer_order=LAYERS), "gradcam")
    assert r["verdict"] == "not held" and "weaker than on the randomized model" in r["why"]
    r = judged("depth_focus", measured(regions=against, layer_order=LAYERS), "gradcam")
    assert r["verdict"] == "inconclusive"
    assert r["why"].endswith("but no null images (evaluate.null_images = 0)")


def test_depth_focus_and_decoder2_peak():
    reg = pd.DataFrame(layer_rows(8, "trained", 0.1))
    null = pd.DataFrame(layer_rows(8, "trained", 0.1) + layer_rows(8, "randomized", -0.05))
    m = measured(regions=reg, null=null, layer_order=LAYERS)
    r = judged("depth_focus", m, "gradcam")
    assert r["verdict"] == "held" and r["n"] == 8 and "stronger than the randomized" in r["why"]
    assert judged("decoder2_peak", m, "gradcam")["verdict"] == "held"
    other = pd.DataFrame(layer_rows(8, "trained", 0.1, peak="encoder1"))
    r = judged("decoder2_peak", measured(regions=other, null=null, layer_order=LAYERS), "gradcam")
    assert r["verdict"] == "not held" and "largest mean share: encoder1" in r["ours"]
    shallow = measured(regions=reg, null=null, layer_order=["encoder1", "encoder2", "decoder2"])
    r = judged("depth_focus", shallow, "gradcam")
    assert r["verdict"] == "inconclusive" and r["why"] == "fewer than 3 encoder layers"


def test_border_signs_are_read_relative_to_the_explained_change():
    """Defect 1: a reference-based map sums to Δf = f(x) − f(x₀); with a black baseline on
    dark lesions Δf < 0 and every sign flips. The claim reads the shares × sign(Δf): maps with
    the border negative and the inside positive on images whose Δf < 0 hold it."""
    flipped = [{**r, "band_net_share": -r["band_net_share"],
                "inside_net_share": -r["inside_net_share"], "delta_f": -2.0}
               for r in model_rows(10, "deeplift", 0.95)]  # fmt: skip
    null = pd.DataFrame(
        [{**r, "weights": "trained"} for r in flipped]
        + model_rows(10, "deeplift", 0.3, "randomized", delta_f=-2.0)
    )
    r = judged("border_sign", measured(regions=pd.DataFrame(flipped), null=null), "deeplift")
    assert r["verdict"] == "held" and "Δf < 0 on 10/10" in r["ours"]
    assert "both signs in 10/10" in r["ours"]


def test_a_sign_claim_the_second_baseline_contradicts_is_baseline_dependent():
    """Issue 22, defect 1: a reference-based map is asked under the configured baseline and the
    second one (regions_baseline rows); when the verdicts differ the claim is
    baseline-dependent, when they agree it stands and says so."""
    regions = pd.DataFrame(model_rows(10, "deeplift", 0.95))
    null = pd.DataFrame(
        model_rows(10, "deeplift", 0.95, "trained") + model_rows(10, "deeplift", 0.3, "randomized")
    )
    agree = pd.DataFrame([{**r, "baseline": "mean"} for r in model_rows(8, "deeplift", 0.9)])
    r = judged("border_sign", measured(regions=regions, null=null, baseline=agree), "deeplift")
    assert r["verdict"] == "held" and "the same under the mean baseline (8 images)" in r["why"]
    assert "under the mean baseline (8 images): band" in r["ours"]
    flipped = agree.assign(band_net_share=-agree["band_net_share"],
                           inside_net_share=-agree["inside_net_share"])  # fmt: skip
    r = judged("border_sign", measured(regions=regions, null=null, baseline=flipped), "deeplift")
    assert r["verdict"] == "inconclusive"
    assert r["why"].startswith(
        "baseline-dependent: on the 8 images measured under both, held under the configured "
        "baseline and not held under the mean baseline"
    )
