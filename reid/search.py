"""Search a gallery with one query image: the ranking evaluation uses, and its picture."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from reid.evaluation.metrics import pairwise_distances
from reid.utils.drawing import (
    NOTE_H,
    TEXT_SCALE,
    Key,
    framed_sheet,
    side_by_side,
    stack,
    text_band,
    to_height,
)
from reid.utils.images import read_image, write_image

TILE_H = 128  # height of every image on the sheet, its width kept in proportion
CAPTION_KEY = Key("under each match: its rank and squared distance to the query (2 - 2 cos)", style="none")


def rank_gallery(query: np.ndarray, gallery: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """(gallery indices, distances) of the `top` nearest, by the distance evaluation ranks by
    (squared Euclidean of L2-normalised features), ties by gallery order."""
    dist = pairwise_distances(torch.from_numpy(np.array(query[None])), torch.from_numpy(np.array(gallery)))[0]
    order = np.argsort(dist, kind="stable")[:top]
    return order, dist[order]


def search_sheet(query: str, ranked: Sequence[str], distances: Sequence[float], out_path: str | os.PathLike,
                 title: str) -> np.ndarray:
    """Write the query, then its ranked matches captioned with rank and distance (a search has no
    identity labels: nothing is marked true or false). Returns the image."""
    tiles = [_captioned(query, "query")]
    tiles += [_captioned(path, f"{rank}: {d:.3f}") for rank, (path, d) in enumerate(zip(ranked, distances), 1)]
    sheet = framed_sheet(side_by_side(tiles), title, [CAPTION_KEY])
    write_image(out_path, sheet)
    return sheet


def _captioned(path: str, text: str) -> np.ndarray:
    tile = to_height(read_image(path), TILE_H)
    return stack([tile, text_band(text, tile.shape[1], NOTE_H, TEXT_SCALE)], gap=0)
