"""The paper's reported figures, per dataset, for the claims table.

Keys are the dataset names of params.yaml (``kvasir-seg``, ``ham10000``); other datasets have no
paper figure. Infidelity values are the paper's raw (unnormalized) means; layer values are its
layer-table means (Tables III/VI), computed under its bilinear-upsampling convention.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperFigures:
    """One dataset's figures in the paper."""

    name: str
    segmentation: dict[str, float]  # mDice, mIoU (test)
    segmentation_source: str
    infidelity: dict[str, float]  # model-level method -> mean infidelity
    infidelity_source: str
    layer_infidelity: dict[str, float]  # layer method -> mean infidelity
    layer_source: str
    note: str = ""


_KVASIR_NOTE = "Table I prints mDice as 0.08412 (a typo for 0.8412)"
_HAM_NOTE = "Table V orders GGC < GBP < DeepLIFT, against the stated GGC < DeepLIFT < GBP"
PAPER: dict[str, PaperFigures] = {
    "kvasir-seg": PaperFigures(
        "Kvasir-SEG", {"mDice": 0.8412, "mIoU": 0.7598}, "Table I",
        {"guided_gradcam": 0.0265, "deeplift": 0.0907, "guided_backprop": 0.2415}, "Table II",
        {"gradcam": 0.3606, "deeplift": 2.4576}, "Table III", _KVASIR_NOTE,
    ),
    "ham10000": PaperFigures(
        "HAM10000", {"mDice": 0.9408, "mIoU": 0.8976}, "Table IV",
        {"guided_gradcam": 0.0068, "deeplift": 0.0191, "guided_backprop": 0.0121}, "Table V",
        {"gradcam": 0.2507, "deeplift": 0.2704}, "Table VI", _HAM_NOTE,
    ),
}  # fmt: skip
"""Field order of each entry: name, segmentation (test mDice, mIoU) and its table, model-level
infidelity means and their table, layer infidelity means and their table, a note."""

CLAIMED_ORDER: tuple[str, ...] = ("guided_gradcam", "deeplift", "guided_backprop")
"""The paper's stated infidelity order, lowest (most faithful) first (Tables II/V)."""

PAPER_METHODS: tuple[str, ...] = ("guided_backprop", "guided_gradcam", "deeplift")
"""The model-level methods the paper uses (its claims are about these)."""
PAPER_LAYER_METHODS: tuple[str, ...] = ("gradcam", "deeplift")
"""The layer methods the paper uses."""

SHORT: dict[str, str] = {
    "saliency": "sal",
    "integrated_gradients": "ig",
    "input_x_gradient": "ixg",
    "deeplift": "dl",
    "guided_backprop": "gbp",
    "guided_gradcam": "ggc",
    "gradcam": "gc",
}
"""Short method names for compact keys and table cells."""


def paper_figures(dataset: str) -> PaperFigures | None:
    """The paper's figures for ``dataset`` (a params.yaml name), or None."""
    return PAPER.get(dataset)


def short(method: str) -> str:
    """A method's short name (itself when it has none)."""
    return SHORT.get(method, method)
