"""The U-Net's test segmentation quality: mean Dice and IoU over the test split's images.

Rows (section ``segmentation``): ``dice`` and ``iou``, ``mean`` with a bootstrap interval over
the test images; none without per-image scores (the claims then say "no test images").
"""

from __future__ import annotations

import numpy as np

from seginterp.evaluate.results.measured import Measured
from seginterp.evaluate.results.table import Key, Row, estimate

SECTION = "segmentation"
QUANTITIES: tuple[str, ...] = ("dice", "iou")
"""The per-image columns of ``Measured.segmentation`` summarised, in this order."""


def rows(m: Measured) -> list[Row]:
    """The mean Dice and IoU of the test images (none when there are no scores)."""
    seg = m.segmentation
    if seg is None or not len(seg):
        return []
    n_boot, seed = m.cfg.bootstrap, m.cfg.seed
    return [
        estimate(Key(SECTION, quantity=q), seg[q].to_numpy(np.float64), "mean", n_boot, seed)
        for q in QUANTITIES
    ]
