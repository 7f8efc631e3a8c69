"""What calibration did, image by image: the expert's raw boxes beside the calibrated ones.

Most sampled images have a replaced box (what a person wants to check), the rest are
untouched for comparison. A replaced box is dashed and named under its image with the
reason ("head replaced: too_large"); a raw part without a usable box names its status.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from reid.utils.drawing import (
    COLOURS,
    PAD,
    Key,
    Mark,
    blank,
    framed_sheet,
    grid,
    panel,
    sample_ids,
    side_by_side,
    stack,
    text_band,
)
from reid.masks.boxes import PartBoxes
from reid.masks.calibration import Calibrated
from reid.utils.images import ImageError, read_image, write_image

REPLACED_SHARE = 0.75  # of the sampled images, at most this share with a replaced box
HEADER_H = 18  # the "raw" / "calibrated" line above each panel
PAIR_GAP = 4 * PAD  # white space between two images' pairs of panels
KEYS = [
    *(Key(part, colour) for part, colour in COLOURS.items()),
    Key("replaced by the part's stripe window (reason below)", style="dashed"),
    Key("part: status = no usable raw box", style="none"),
]


def calibration_sheet(
    paths: Sequence[str], raw: PartBoxes, calibrated: Calibrated, out_path: str | os.PathLike, n: int,
    setting: str, columns: int = 4, seed: int = 0,
) -> int:
    """Write up to `n` images' raw | calibrated panels (`paths` in raw.image_ids order), titled
    with `setting` (how the boxes were calibrated); returns how many images were drawn."""
    replaced = (calibrated.reason != "").any(axis=1)
    ids = raw.image_ids
    chosen = sample_ids([ids[i] for i in np.flatnonzero(replaced)], [ids[i] for i in np.flatnonzero(~replaced)],
                        n, REPLACED_SHARE, seed)
    index = {image_id: i for i, image_id in enumerate(ids)}
    pairs, shown_replaced = [], 0
    for image_id in chosen:
        i = index[image_id]
        try:
            rgb = read_image(paths[i])
        except ImageError:
            continue
        pairs.append(pair_panels(rgb, raw, calibrated, i))
        shown_replaced += int(replaced[i])
    title = (f"Calibration ({setting}): raw expert boxes | calibrated boxes, {len(pairs)} of {len(ids)} images, "
             f"{shown_replaced} with a replaced box ({int(replaced.sum())} in all)")
    body = grid(pairs, max(1, columns), gap=PAIR_GAP) if pairs else blank(1, 1)
    write_image(out_path, framed_sheet(body, title, KEYS))
    return len(pairs)


def pair_panels(rgb: np.ndarray, raw: PartBoxes, calibrated: Calibrated, i: int) -> np.ndarray:
    """Image `i` twice: its raw boxes (missing ones named), then its calibrated boxes (replaced dashed)."""
    raw_marks, raw_notes, cal_marks, cal_notes = [], [], [], []
    for j, part in enumerate(raw.parts):
        if raw.missing[i, j] == "":
            raw_marks.append(Mark(part, raw.boxes[i, j]))
        else:
            raw_notes.append((part, f"{part}: {raw.missing[i, j]}"))
        reason = calibrated.reason[i, j]
        if np.isfinite(calibrated.boxes[i, j]).all():
            cal_marks.append(Mark(part, calibrated.boxes[i, j], dashed=reason != ""))
        if reason != "":
            cal_notes.append((part, f"{part} replaced: {reason}"))
    return side_by_side([headed(panel(rgb, raw_marks, raw_notes), "raw"),
                         headed(panel(rgb, cal_marks, cal_notes), "calibrated")])


def headed(tile: np.ndarray, header: str) -> np.ndarray:
    """`tile` under a one-line `header`."""
    return stack([text_band(header, tile.shape[1], HEADER_H, 0.4), tile], gap=0)
