"""From the grounding store to one sanitised box per image and part.

Experts answer with zero, one or several boxes per part; some answers are broken
(inverted corners, numbers out of range, NaN, zero area). Everything is sanitised and
counted here, before any statistics are taken.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import get_args

import numpy as np
import polars as pl

from reid.masks.config import Choose

CHOICES: tuple[str, ...] = get_args(Choose)


@dataclass
class PartBoxes:
    """One box per image and part: `boxes` [N, P, 4] (NaN = none) and why a box is missing."""

    image_ids: list[str]
    parts: tuple[str, ...]
    boxes: np.ndarray  # [N, P, 4] normalised x0, y0, x1, y1
    missing: np.ndarray  # [N, P] object: "" if a box exists, else the reason (status, "rejected", "missing")
    sanitised: Counter  # per fix: clipped / inverted / non_finite / zero_area


def sanitise(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, Counter]:
    """Fix what can be fixed in `boxes` [M, 4]; return (boxes, valid [M], counts of each fix).

    Inverted corners are swapped, coordinates clipped to 0..1; non-finite and (after
    clipping) zero-area boxes are rejected.
    """
    counts: Counter = Counter()
    boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    finite = np.isfinite(boxes).all(axis=1)
    counts["non_finite"] = int((~finite).sum())
    inverted = finite & ((boxes[:, 0] > boxes[:, 2]) | (boxes[:, 1] > boxes[:, 3]))
    counts["inverted"] = int(inverted.sum())
    x = np.sort(boxes[:, [0, 2]], axis=1)
    y = np.sort(boxes[:, [1, 3]], axis=1)
    fixed = np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1)
    clipped = np.clip(fixed, 0.0, 1.0)
    counts["clipped"] = int((finite & (clipped != fixed).any(axis=1)).sum())
    positive = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    counts["zero_area"] = int((finite & ~positive).sum())
    return clipped, finite & positive, counts


def collect_boxes(
    store: pl.DataFrame, image_ids: Sequence[str], parts: Sequence[str], choose: str = "first"
) -> PartBoxes:
    """One sanitised box per (image, part) from the grounding rows, chosen by `choose`.

    `first` keeps the expert's first box (the reference code's rule), `largest` the one of
    largest area, `union` the box enclosing all. Images absent from `store` are "missing".
    """
    if choose not in CHOICES:
        raise ValueError(f"calibration.choose must be one of {CHOICES}, got '{choose}'")
    parts = tuple(parts)
    index = {image_id: i for i, image_id in enumerate(image_ids)}
    part_index = {p: j for j, p in enumerate(parts)}
    n = len(image_ids)
    out = np.full((n, len(parts), 4), np.nan)
    missing = np.full((n, len(parts)), "missing", dtype=object)

    rows = store.filter(pl.col("image_id").is_in(list(index)) & pl.col("part").is_in(list(parts)))
    row_i = np.array([index[i] for i in rows["image_id"]], dtype=np.int64)
    row_j = np.array([part_index[p] for p in rows["part"]], dtype=np.int64)
    missing[row_i, row_j] = np.where(rows["status"].to_numpy() == "ok", "rejected", rows["status"].to_numpy())

    exploded = rows.with_row_index("row").select("row", "boxes").explode("boxes").drop_nulls("boxes")
    flat = np.array(exploded["boxes"].to_list(), dtype=np.float64).reshape(-1, 4)
    fixed, valid, counts = sanitise(flat)
    owner = exploded["row"].to_numpy()[valid]
    fixed = fixed[valid]
    ok_rows = rows["status"].to_numpy()[owner] == "ok"
    owner, fixed = owner[ok_rows], fixed[ok_rows]
    groups, chosen = _choose(owner, fixed, choose)
    out[row_i[groups], row_j[groups]] = chosen
    missing[row_i[groups], row_j[groups]] = ""
    return PartBoxes(list(image_ids), parts, out, missing, counts)


def _choose(owner: np.ndarray, boxes: np.ndarray, choose: str) -> tuple[np.ndarray, np.ndarray]:
    """Per owner row (boxes in answer order): the distinct owners and their chosen box [G, 4]."""
    if choose == "largest":
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        order = np.lexsort((-area, owner))  # stable: the first of equally large boxes wins
    else:
        order = np.argsort(owner, kind="stable")
    owner, boxes = owner[order], boxes[order]
    groups, starts = np.unique(owner, return_index=True)
    if choose != "union":
        return groups, boxes[starts]
    lo = np.minimum.reduceat(boxes[:, :2], starts, axis=0)
    hi = np.maximum.reduceat(boxes[:, 2:], starts, axis=0)
    return groups, np.concatenate([lo, hi], axis=1)
