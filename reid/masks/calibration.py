"""Box calibration (paper §3.2.3, Fig. 5).

Per part, the heights and areas of the boxes over the whole training set have a clear
mode; hallucinated whole-body boxes sit far above it and over-split slivers far below.
Boxes outside the thresholds (and missing or failed answers) are replaced by a stripe
window: full width, spanning where the good boxes of that part usually lie.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reid.grounding.parts import EQUAL_THIRDS  # the fallback window
from reid.masks.boxes import PartBoxes
from reid.masks.config import Calibration

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution × this = its standard deviation


@dataclass
class Calibrated:
    boxes: np.ndarray  # [N, P, 4] (NaN only when calibration is disabled and the box is missing)
    reason: np.ndarray  # [N, P] object: "" = kept, else why it was replaced
    thresholds: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # part -> stat -> [lo, hi]
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)


def box_stats(boxes: np.ndarray) -> dict[str, np.ndarray]:
    """Height, top, bottom and area of normalised boxes [..., 4] (NaN where no box)."""
    return {
        "height": boxes[..., 3] - boxes[..., 1],
        "top": boxes[..., 1],
        "bottom": boxes[..., 3],
        "area": (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1]),
    }


def thresholds(values: np.ndarray, config: Calibration) -> tuple[float, float]:
    """(low, high) bounds of the plausible values, from the statistics of `values` (NaN ignored)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (-np.inf, np.inf)
    if config.rule == "quantile":
        lo, hi = np.quantile(values, config.quantiles)
        return float(lo), float(hi)
    median = float(np.median(values))
    spread = max(config.mad_k * MAD_TO_SIGMA * float(np.median(np.abs(values - median))), config.min_spread * median)
    return median - spread, median + spread


def calibrate(raw: PartBoxes, config: Calibration) -> Calibrated:
    """Replace implausible, missing and failed boxes by the part's stripe window."""
    if not config.enabled:
        return Calibrated(raw.boxes.copy(), np.full(raw.missing.shape, "", dtype=object))
    boxes = raw.boxes.copy()
    reason = raw.missing.copy()
    stats = box_stats(raw.boxes)
    bounds: dict[str, dict[str, list[float]]] = {}
    windows: dict[str, tuple[float, float]] = {}
    for j, part in enumerate(raw.parts):
        present = reason[:, j] == ""
        part_bounds = {s: thresholds(stats[s][present, j], config) for s in ("height", "area")}
        bounds[part] = {s: [float(lo), float(hi)] for s, (lo, hi) in part_bounds.items()}
        too_large = np.zeros(len(boxes), dtype=bool)
        too_small = np.zeros(len(boxes), dtype=bool)
        for s, (lo, hi) in part_bounds.items():
            too_large |= present & (stats[s][:, j] > hi)
            too_small |= present & (stats[s][:, j] < lo)
        reason[too_large, j] = "too_large"
        reason[too_small & ~too_large, j] = "too_small"
        good = reason[:, j] == ""
        windows[part] = _window(part, stats["top"][good, j], stats["bottom"][good, j], config)
        replace = ~good
        boxes[replace, j] = [0.0, windows[part][0], 1.0, windows[part][1]]
    return Calibrated(boxes, reason, bounds, windows)


def _window(part: str, tops: np.ndarray, bottoms: np.ndarray, config: Calibration) -> tuple[float, float]:
    """Where the part's good boxes usually lie (median top, median bottom), or the configured window."""
    if config.stripe_windows is not None:
        lo, hi = config.stripe_windows[part]
        return float(lo), float(hi)
    if tops.size < config.min_good:
        return EQUAL_THIRDS[part]
    return float(np.median(tops)), float(np.median(bottoms))
