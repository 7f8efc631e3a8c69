"""How well AM-MSA finds parts in an unseen domain: IoU of predicted part masks with the truth.

On the synthetic benchmark every image has ground-truth part boxes; voted onto the model's
patch grid with the default rule (patch centre inside the box, SPEC §3), they are the masks
a perfect RMP would predict. Per image and part, IoU = |pred ∧ truth| / |pred ∨ truth| over
patches. A pair where both masks are empty (a box too small to hold a patch centre, and a
model that agrees) has no defined IoU and is skipped; so are images without a true box.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reid.masks.grid import PatchGrid
from reid.masks.voting import vote


def mask_iou(predicted: np.ndarray, truth: np.ndarray, parts: Sequence[str]) -> dict[str, float]:
    """Mean IoU per part of bool masks [N, P, Npatch] and their mean over parts ("mean").

    Pairs with both masks empty are skipped; a part with no pair left is left out.
    """
    predicted, truth = np.asarray(predicted, dtype=bool), np.asarray(truth, dtype=bool)
    if predicted.shape != truth.shape or predicted.shape[1] != len(parts):
        raise ValueError(
            f"predicted {predicted.shape} and truth {truth.shape} masks must both be [N, {len(parts)}, Npatch]"
        )
    inter = (predicted & truth).sum(axis=-1)  # [N, P]
    union = (predicted | truth).sum(axis=-1)
    defined = union > 0
    out = {}
    for j, part in enumerate(parts):
        if defined[:, j].any():
            out[part] = float((inter[defined[:, j], j] / union[defined[:, j], j]).mean())
    if out:
        out["mean"] = float(np.mean(list(out.values())))
    return out


def box_mask_iou(predicted: np.ndarray, boxes: np.ndarray, grid: PatchGrid, parts: Sequence[str]) -> dict[str, float]:
    """Mean IoU per part of predicted masks [N, P, Npatch] against true boxes [N, P, 4]
    (normalised x0, y0, x1, y1; NaN = no box, that image and part skipped) voted onto `grid`."""
    boxes = np.asarray(boxes, dtype=np.float64)
    has_box = np.isfinite(boxes).all(axis=-1)[..., None]  # [N, P, 1]
    truth = vote(boxes, grid, rule="centre")
    return mask_iou(np.asarray(predicted, dtype=bool) & has_box, truth & has_box, parts)
