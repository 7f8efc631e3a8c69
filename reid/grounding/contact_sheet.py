"""The paper's Fig. 4: sample training images with each part's boxes drawn, failed answers named."""

from __future__ import annotations

import os

import numpy as np
import polars as pl

from reid.utils.drawing import COLOURS, Key, Mark, blank, framed_sheet, grid, panel, sample_ids
from reid.utils.images import ImageError, read_image, write_image

FAILED_KEY = Key("part: status = failed answer, no box", style="none")  # how the sheet names a failed part


def contact_sheet(
    boxes: pl.DataFrame, paths: dict[str, str], out_path: str | os.PathLike, n: int = 24, columns: int = 8, seed: int = 0
) -> int:
    """Write `n` images (seeded; up to half of them with a failed answer) with their boxes,
    failed parts named under the image; returns how many were drawn.

    `boxes` holds the merged grounding rows, `paths` maps image_id → image file. Unreadable
    images are left out of the sheet.
    """
    failed = boxes.filter(pl.col("status") != "ok")["image_id"].unique().sort().to_list()
    others = boxes.filter(~pl.col("image_id").is_in(failed))["image_id"].unique().sort().to_list()
    ids = sample_ids(failed, others, n, 0.5, seed)
    by_id = boxes.filter(pl.col("image_id").is_in(ids)).partition_by("image_id", as_dict=True)
    tiles = []
    for image_id in ids:
        try:
            rgb = read_image(paths[image_id])
        except ImageError:
            continue
        tiles.append(answer_panel(rgb, by_id[(image_id,)]))
    total = boxes["image_id"].n_unique()
    expert = f"{boxes['expert'][0]} {boxes['version'][0]}" if boxes.height else "no answers"
    title = f"Grounding ({expert}): {len(tiles)} of {total} images, failed answers named under the image"
    keys = [Key(part, colour) for part, colour in COLOURS.items()] + [FAILED_KEY]
    body = grid(tiles, max(1, columns)) if tiles else blank(1, 1)
    write_image(out_path, framed_sheet(body, title, keys))
    return len(tiles)


def answer_panel(rgb: np.ndarray, rows: pl.DataFrame) -> np.ndarray:
    """One image's panel: the boxes of its `ok` answers, a note per failed part ("legs: no_box")."""
    marks, notes = [], []
    for part, status, part_boxes in rows.select("part", "status", "boxes").iter_rows():
        if status == "ok":
            marks += [Mark(part, box) for box in part_boxes]
        else:
            notes.append((part, f"{part}: {status}"))
    return panel(rgb, marks, notes)
