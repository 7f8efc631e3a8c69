"""Patch voting (paper Fig. 6): a patch belongs to part p if p's calibrated box covers it.

Boxes are normalised (x0, y0, x1, y1) on the original image; the image is resized (not
cropped) to the model input, so normalised coordinates carry over unchanged. A missing box
is NaN and votes for no patch.
"""

from __future__ import annotations

from typing import get_args

import numpy as np

from reid.grounding.parts import EQUAL_THIRDS
from reid.masks.config import VoteRule
from reid.masks.grid import PatchGrid

VOTE_RULES: tuple[str, ...] = get_args(VoteRule)
_DECIMALS = 9  # snap coordinates so that mirrored boxes vote exactly mirrored patches


def vote(boxes: np.ndarray, grid: PatchGrid, rule: str = "centre", coverage: float = 0.5) -> np.ndarray:
    """Masks G for `boxes` [N, P, 4] → bool [N, P, Npatch].

    `centre`: the patch centre lies inside the box (edges included, so a box and its mirror
    image vote mirror-symmetric patches). `coverage`: the box covers at least `coverage` of
    the patch area.
    """
    if rule not in VOTE_RULES:
        raise ValueError(f"masks.rule must be one of {VOTE_RULES}, got '{rule}'")
    boxes = np.asarray(boxes, dtype=np.float64)[..., None, :]  # [N, P, 1, 4]
    cells = grid.cells()  # [Npatch, 4]
    if rule == "centre":
        cx = np.round((cells[:, 0] + cells[:, 2]) / 2, _DECIMALS)
        cy = np.round((cells[:, 1] + cells[:, 3]) / 2, _DECIMALS)
        b = np.round(boxes, _DECIMALS)
        return (b[..., 0] <= cx) & (cx <= b[..., 2]) & (b[..., 1] <= cy) & (cy <= b[..., 3])
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"masks.coverage must lie in (0, 1], got {coverage}")
    iw = np.clip(np.minimum(boxes[..., 2], cells[:, 2]) - np.maximum(boxes[..., 0], cells[:, 0]), 0, None)
    ih = np.clip(np.minimum(boxes[..., 3], cells[:, 3]) - np.maximum(boxes[..., 1], cells[:, 1]), 0, None)
    area = (cells[:, 2] - cells[:, 0]) * (cells[:, 3] - cells[:, 1])
    frac = np.nan_to_num(iw * ih / area, nan=0.0)
    return np.round(frac, _DECIMALS) >= coverage


def flip_boxes(boxes: np.ndarray) -> np.ndarray:
    """Mirror normalised boxes [..., 4] left-right."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.stack([1.0 - boxes[..., 2], boxes[..., 1], 1.0 - boxes[..., 0], boxes[..., 3]], axis=-1)


def flip_masks(masks, grid: PatchGrid):
    """Mirror masks [..., Npatch] (numpy or torch) left-right, as a horizontal image flip does."""
    shape = masks.shape
    grid_view = masks.reshape(*shape[:-1], grid.rows, grid.cols)
    flipped = grid_view[..., ::-1] if isinstance(masks, np.ndarray) else grid_view.flip(-1)
    return flipped.reshape(shape)


def stripe_boxes(n: int, windows: dict[str, tuple[float, float]], parts: tuple[str, ...]) -> np.ndarray:
    """Full-width horizontal windows (y0, y1) per part for `n` images: [n, P, 4]."""
    one = np.array([[0.0, windows[p][0], 1.0, windows[p][1]] for p in parts])
    return np.broadcast_to(one, (n, len(parts), 4)).copy()


def equal_thirds_masks(grid: PatchGrid, parts: tuple[str, ...] = tuple(EQUAL_THIRDS)) -> np.ndarray:
    """The equal-thirds masks on `grid`: [P, Npatch] bool, `parts` rows of the `EQUAL_THIRDS` windows.

    The one definition of which patches a third covers: full-width windows voted with the
    centre rule. On a grid of non-overlapping patches a centre (2r+1)/(2 rows) never lies on
    1/3 or 2/3, so every patch is in exactly one third, and the split is symmetric:
    5/6/5 rows for the 16-row grid of a 256x128 input, 3/2/3 for 8 rows.
    """
    return vote(stripe_boxes(1, EQUAL_THIRDS, parts), grid, "centre")[0]
