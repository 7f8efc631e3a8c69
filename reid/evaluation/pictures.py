"""What a person looks at after evaluation: CMC curves, a ranking sheet, predicted part masks.

- CMC: `cmc/<TARGET>.csv` (`rank,cmc`, percent; a DVC plot) and `cmc.png` with every target.
- Ranking sheet: titled with the model, target and mAP; per query (its pid and AP on the
  left), the query then its top-k gallery images under their rank numbers, after the
  protocol's removals (same pid and camera, junk), true matches framed green, false ones red.
- Part masks (paper Fig. 7): under the column names, per image (captioned with its target
  and pid) the image then one tile per part with the patches the model assigned to that
  part tinted in the part's colour, the rest dimmed.

Each ends in a legend of its colours.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
import torch

from reid.evaluation.metrics import JUNK_PID, pairwise_distances
from reid.utils.drawing import (
    COLOURS,
    NOTE_H,
    Key,
    blank,
    framed_sheet,
    put_text,
    stack,
    text_width,
)
from reid.masks.grid import PatchGrid
from reid.utils.images import read_image, write_image

TILE_W, TILE_H = 64, 128  # the model's 1:2 input aspect
FRAME = 4  # width of the coloured frame around a tile
GAP = 12  # white space between the query and its matches, and before each mask sample
ROW_GAP = 4  # white space between rows
HEADER_H = 18  # the line of rank numbers or part names above the tiles
ROW_LABEL_W = 76  # the column of each ranking row's pid and AP
GREEN, RED, GREY = (0, 170, 0), (220, 0, 0), (128, 128, 128)  # frames: true, false match; query
DIM = 0.35  # brightness left to the patches outside a part's mask
DIMMED = (45, 45, 45)  # legend swatch of a dimmed patch (mid-grey at DIM)
RANKING_KEYS = [Key("query", GREY), Key("true match", GREEN), Key("false match", RED)]


def write_cmc(cmc: Mapping[str, np.ndarray], csv_dir: str | os.PathLike, png_path: str | os.PathLike) -> None:
    """CMC curves {target: [max_rank] fractions} → `<csv_dir>/<target>.csv` (`rank,cmc`, percent)
    and one plot of them all.

    One file per target with the same columns is what a DVC plot of the folder (`x: rank,
    y: cmc`) draws for any protocol, and what `dvc plots diff` overlays run by run; a
    wide file would need the target names in dvc.yaml. Earlier CSVs in `csv_dir` are removed.
    """
    csv_dir = Path(csv_dir)
    csv_dir.mkdir(parents=True, exist_ok=True)
    for stale in csv_dir.glob("*.csv"):
        stale.unlink()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for target, curve in cmc.items():
        ranks, percent = np.arange(1, len(curve) + 1), np.round(100 * np.asarray(curve), 2)
        pl.DataFrame({"rank": ranks, "cmc": percent}).write_csv(csv_dir / f"{target}.csv")
        ax.plot(ranks, percent, marker=".", label=target)
    ax.set_xlabel("rank")
    ax.set_ylabel("matching rate (%)")
    ax.set_title("CMC")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    Path(png_path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


def choose_queries(first_hit: np.ndarray, n: int) -> np.ndarray:
    """Indices of `n` queries evenly spaced among those with a valid match (first_hit >= 0):
    deterministic, and spread over the query list rather than its first identities."""
    valid = np.flatnonzero(np.asarray(first_hit) >= 0)
    if len(valid) <= n:
        return valid
    return valid[np.linspace(0, len(valid) - 1, n).round().astype(np.int64)]


def top_matches(
    query_feats: torch.Tensor,
    gallery_feats: torch.Tensor,
    query_pids: np.ndarray,
    gallery_pids: np.ndarray,
    query_cams: np.ndarray,
    gallery_cams: np.ndarray,
    k: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k gallery indices [Nq, k] (−1 past the end) and whether each is a true match [Nq, k],
    ranked as the metrics rank: same distance, same removals, ties by gallery index."""
    dist = pairwise_distances(query_feats, gallery_feats)
    q_pids, q_cams = np.asarray(query_pids)[:, None], np.asarray(query_cams)[:, None]
    g_pids, g_cams = np.asarray(gallery_pids)[None], np.asarray(gallery_cams)[None]
    removed = ((g_pids == q_pids) & (g_cams == q_cams)) | (g_pids == JUNK_PID)
    order = np.argsort(np.where(removed, np.inf, dist), axis=1, kind="stable")[:, :k]
    kept = ~np.take_along_axis(removed, order, axis=1)
    index = np.where(kept, order, -1)
    match = kept & (np.take_along_axis(np.broadcast_to(g_pids, dist.shape), order, axis=1) == q_pids)
    pad = k - index.shape[1]
    return np.pad(index, ((0, 0), (0, pad)), constant_values=-1), np.pad(match, ((0, 0), (0, pad)))


def ranking_sheet(
    query_paths: Sequence[str],
    ranked_paths: Sequence[Sequence[str | None]],
    matches: np.ndarray,
    out_path: str | os.PathLike,
    pids: Sequence[int],
    ap: Sequence[float],
    title: str,
) -> np.ndarray:
    """Write the sheet: under `title` and the rank numbers, one row per query (its pid and AP
    [fraction], the query tile, gap, its ranked gallery tiles framed green = true match, red =
    false; None = nothing left to rank, blank), then the legend. Returns the image."""
    k = matches.shape[1]
    header = [blank(ROW_LABEL_W, HEADER_H), _caption("query", TILE_W, HEADER_H), blank(GAP, HEADER_H)]
    header += [_caption(str(rank), TILE_W, HEADER_H) for rank in range(1, k + 1)]
    rows = [np.hstack(header)]
    for query, ranked, hits, pid, score in zip(query_paths, ranked_paths, matches, pids, ap, strict=True):
        tiles = [_row_label([f"pid {pid}", f"AP {100 * score:.1f}%"]), _framed(_tile(query), GREY), blank(GAP, TILE_H)]
        for path, hit in zip(ranked, hits):
            tiles.append(blank(TILE_W, TILE_H) if path is None else _framed(_tile(path), GREEN if hit else RED))
        tiles += [blank(TILE_W, TILE_H)] * (k - len(ranked))
        rows.append(np.hstack(tiles))
    body = stack([rows[0], stack(rows[1:], gap=ROW_GAP)], gap=0)
    sheet = framed_sheet(body, title, RANKING_KEYS)
    write_image(out_path, sheet)
    return sheet


@dataclass(frozen=True)
class MaskSamples:
    """One target's images on the part-mask figure: paths, pids, predicted masks [n, P, Npatch] bool."""

    paths: list[str]
    pids: list[int]
    masks: np.ndarray


def part_mask_sheet(
    samples: Mapping[str, MaskSamples],
    grid: PatchGrid,
    parts: Sequence[str],
    out_path: str | os.PathLike,
    title: str,
) -> np.ndarray:
    """Write the paper's Fig. 7 under `title` and the column names (image, then `parts`): one row
    per target, each image followed by one tile per part and captioned with its target and pid,
    then the legend. Returns the image."""
    columns = max(len(s.paths) for s in samples.values())
    block = [_caption(name, TILE_W, HEADER_H) for name in ("image", *parts)]
    rows = [np.hstack([tile for _ in range(columns) for tile in (blank(GAP, HEADER_H), *block)])]
    for target, sample in samples.items():
        tiles, captions = [], []
        for path, pid, image_masks in zip(sample.paths, sample.pids, sample.masks, strict=True):
            rgb = _tile(path)
            overlays = [_overlay(rgb, mask, grid, COLOURS[part]) for part, mask in zip(parts, image_masks)]
            tiles += [blank(GAP, TILE_H), rgb, *overlays]
            captions += [blank(GAP, NOTE_H), _caption(f"{target} pid {pid}", TILE_W * (1 + len(parts)), NOTE_H, left=True)]
        rows.append(np.vstack([np.hstack(tiles), np.hstack(captions)]))
    body = stack([rows[0], stack(rows[1:], gap=ROW_GAP)], gap=0)
    keys = [*(Key(f"{part} patches", COLOURS[part], "fill") for part in parts), Key("other patches", DIMMED, "fill")]
    sheet = framed_sheet(body, title, keys)
    write_image(out_path, sheet)
    return sheet


def _tile(path: str) -> np.ndarray:
    """The image at `path` resized to one tile [TILE_H, TILE_W, 3]."""
    return cv2.resize(read_image(path), (TILE_W, TILE_H), interpolation=cv2.INTER_AREA)


def _framed(tile: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    out = tile.copy()
    out[:FRAME], out[-FRAME:], out[:, :FRAME], out[:, -FRAME:] = colour, colour, colour, colour
    return out


def _row_label(lines: Sequence[str]) -> np.ndarray:
    """A white ROW_LABEL_W x TILE_H tile with `lines` one under the other, centred vertically."""
    tile = blank(ROW_LABEL_W, TILE_H)
    top = TILE_H // 2 - (len(lines) * NOTE_H) // 2
    for i, line in enumerate(lines):
        put_text(tile, line, 2, top + (i + 1) * NOTE_H - 3)
    return tile


def _caption(text: str, width: int, height: int, left: bool = False) -> np.ndarray:
    """A white `width` x `height` band with `text` centred (or at the left), cut at the band's edge."""
    band = blank(width, height)
    x = 2 if left else max(0, (width - text_width(text)) // 2)
    put_text(band, text, x, height - 4)
    return band


def _overlay(tile: np.ndarray, mask: np.ndarray, grid: PatchGrid, colour: tuple[int, int, int]) -> np.ndarray:
    """Tint the tile's pixels under the mask's patches [Npatch] with `colour`, dim the others."""
    cells = np.asarray(mask, dtype=np.uint8).reshape(grid.rows, grid.cols)
    inside = cv2.resize(cells, (TILE_W, TILE_H), interpolation=cv2.INTER_NEAREST).astype(bool)[..., None]
    tinted = 0.5 * tile + 0.5 * np.asarray(colour, dtype=np.float64)
    return np.where(inside, tinted, DIM * tile).round().astype(np.uint8)
