"""The paper's Fig. 4: sample training images with each part's boxes drawn."""

from __future__ import annotations

import os

import cv2
import numpy as np
import polars as pl

from reid.utils.images import ImageError, read_image, write_image

COLOURS = {"head": (230, 60, 60), "upper": (60, 200, 60), "legs": (60, 110, 240)}  # RGB
TILE_W, TILE_H = 128, 256


def draw_boxes(rgb: np.ndarray, parts: dict[str, list[list[float]]]) -> np.ndarray:
    """Resize `rgb` to one tile and draw normalised boxes per part (colours: COLOURS)."""
    tile = np.ascontiguousarray(cv2.resize(rgb, (TILE_W, TILE_H), interpolation=cv2.INTER_AREA))
    for part, boxes in parts.items():
        for x0, y0, x1, y1 in boxes:
            p0 = (int(round(x0 * TILE_W)), int(round(y0 * TILE_H)))
            p1 = (int(round(x1 * TILE_W)) - 1, int(round(y1 * TILE_H)) - 1)
            cv2.rectangle(tile, p0, p1, COLOURS[part], 2)
    return tile


def contact_sheet(
    boxes: pl.DataFrame, paths: dict[str, str], out_path: str | os.PathLike, n: int = 24, columns: int = 8, seed: int = 0
) -> int:
    """Write a grid of `n` images sampled (seeded) from `boxes`; returns how many were drawn.

    `paths` maps image_id → image file. Unreadable images are left out of the sheet.
    """
    ids = boxes["image_id"].unique().sort()
    ids = ids.sample(min(n, len(ids)), seed=seed).sort().to_list() if len(ids) else []
    by_id = boxes.filter(pl.col("image_id").is_in(ids)).partition_by("image_id", as_dict=True)
    tiles = []
    for image_id in ids:
        try:
            rgb = read_image(paths[image_id])
        except ImageError:
            continue
        rows = by_id[(image_id,)]
        tiles.append(draw_boxes(rgb, dict(zip(rows["part"].to_list(), rows["boxes"].to_list(), strict=True))))
    drawn = len(tiles)
    columns = max(1, min(columns, drawn))
    blank = np.full((TILE_H, TILE_W, 3), 255, np.uint8)
    tiles += [blank] * ((-drawn) % columns if drawn else 1)
    grid = np.vstack([np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)])
    write_image(out_path, grid)
    return drawn
