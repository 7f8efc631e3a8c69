"""The drawing kit every picture of the pipeline shares (title band, legend, captions, dashed
boxes, tiles at their own aspect ratio, seeded sampling), so they all read the same way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

COLOURS = {"head": (230, 60, 60), "upper": (60, 200, 60), "legs": (60, 110, 240)}  # RGB
INK, WHITE = (0, 0, 0), (255, 255, 255)
TILE_H = 256  # every crop is scaled to this height, its width kept proportional
LINE = 2  # box line width
FONT = cv2.FONT_HERSHEY_SIMPLEX
TITLE_SCALE, TEXT_SCALE = 0.55, 0.4
TITLE_H, LEGEND_H = 28, 24  # bands above and below a sheet
NOTE_H = 15  # one caption line under a tile
NOTE_LINES = 3  # caption lines under a tile: one per part at most
SWATCH = 11  # side of a legend or caption colour square
PAD = 6  # margin inside bands, between tiles
DASH = 6  # dash and gap length of a dashed box


@dataclass(frozen=True)
class Mark:
    """A normalised box (x0, y0, x1, y1) to draw in its part's colour; dashed = replaced."""

    part: str
    box: Sequence[float]
    dashed: bool = False


@dataclass(frozen=True)
class Key:
    """One legend entry: a swatch (fill | box | dashed | none) in `colour`, then `label`."""

    label: str
    colour: tuple[int, int, int] = INK
    style: str = "box"


def blank(width: int, height: int) -> np.ndarray:
    return np.full((height, width, 3), 255, np.uint8)


def text_width(text: str, scale: float = TEXT_SCALE) -> int:
    return cv2.getTextSize(text, FONT, scale, 1)[0][0]


def put_text(image: np.ndarray, text: str, x: int, baseline: int, scale: float = TEXT_SCALE,
             colour: tuple[int, int, int] = INK) -> None:
    cv2.putText(image, text, (x, baseline), FONT, scale, colour, 1, cv2.LINE_AA)


def text_band(text: str, width: int, height: int = TITLE_H, scale: float = TITLE_SCALE) -> np.ndarray:
    """A white band with `text` left-aligned, vertically centred."""
    band = blank(max(width, text_width(text, scale) + 2 * PAD), height)
    put_text(band, text, PAD, (height + cv2.getTextSize(text, FONT, scale, 1)[0][1]) // 2, scale)
    return band


def legend_slots(keys: Sequence[Key]) -> list[int]:
    """x of each key's swatch in the legend band: keys side by side, PAD * 3 apart."""
    xs, x = [], PAD
    for key in keys:
        xs.append(x)
        x += SWATCH + PAD + text_width(key.label) + 3 * PAD
    return xs


def swatch(image: np.ndarray, x: int, y: int, colour: tuple[int, int, int], style: str) -> None:
    """A SWATCH-sized square at (x, y): filled, outlined like a box, or dashed like a replaced box."""
    p0, p1 = (x, y), (x + SWATCH - 1, y + SWATCH - 1)
    if style == "fill":
        cv2.rectangle(image, p0, p1, colour, -1)
    elif style == "box":
        cv2.rectangle(image, p0, p1, colour, LINE)
    elif style == "dashed":
        dashed_rectangle(image, p0, p1, colour, dash=3)


def legend_band(keys: Sequence[Key], width: int) -> np.ndarray:
    """A white band of swatches and their labels, at least `width` wide."""
    xs = legend_slots(keys)
    band = blank(max(width, xs[-1] + SWATCH + PAD + text_width(keys[-1].label) + PAD), LEGEND_H)
    top = (LEGEND_H - SWATCH) // 2
    for x, key in zip(xs, keys, strict=True):
        swatch(band, x, top, key.colour, key.style)
        put_text(band, key.label, x + SWATCH + PAD, top + SWATCH - 1)
    return band


def framed_sheet(body: np.ndarray, title: str, keys: Sequence[Key]) -> np.ndarray:
    """Title band, `body`, legend band, all padded white to the widest."""
    top, bottom = text_band(title, body.shape[1]), legend_band(keys, body.shape[1])
    return stack([top, body, bottom], gap=0)


def stack(rows: Sequence[np.ndarray], gap: int = PAD) -> np.ndarray:
    """Rows one under the other, `gap` white pixels apart, padded white on the right to the widest."""
    width = max(r.shape[1] for r in rows)
    out = []
    for i, row in enumerate(rows):
        if i and gap:
            out.append(blank(width, gap))
        out.append(np.hstack([row, blank(width - row.shape[1], row.shape[0])]))
    return np.vstack(out)


def side_by_side(tiles: Sequence[np.ndarray], gap: int = PAD) -> np.ndarray:
    """Tiles left to right, `gap` white pixels apart, padded white at the bottom to the tallest: `stack` transposed."""
    return np.ascontiguousarray(stack([tile.transpose(1, 0, 2) for tile in tiles], gap).transpose(1, 0, 2))


def to_height(rgb: np.ndarray, height: int = TILE_H) -> np.ndarray:
    """`rgb` scaled to `height`, its width kept in proportion (no stretching)."""
    width = max(1, round(rgb.shape[1] * height / rgb.shape[0]))
    return np.ascontiguousarray(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))


def dashed_rectangle(image: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], colour: tuple[int, int, int],
                     dash: int = DASH) -> None:
    """A rectangle outline of dashes `dash` long and `dash` apart, starting at each corner."""
    (x0, y0), (x1, y1) = p0, p1
    for start in range(x0, x1 + 1, 2 * dash):
        stop = min(start + dash - 1, x1)
        cv2.line(image, (start, y0), (stop, y0), colour, LINE)
        cv2.line(image, (start, y1), (stop, y1), colour, LINE)
    for start in range(y0, y1 + 1, 2 * dash):
        stop = min(start + dash - 1, y1)
        cv2.line(image, (x0, start), (x0, stop), colour, LINE)
        cv2.line(image, (x1, start), (x1, stop), colour, LINE)


def draw_marks(tile: np.ndarray, marks: Sequence[Mark]) -> np.ndarray:
    """Draw normalised boxes on a copy of `tile` in their part's colour, dashed where asked."""
    out = tile.copy()
    height, width = out.shape[:2]
    for mark in marks:
        x0, y0, x1, y1 = mark.box
        p0 = (round(x0 * width), round(y0 * height))
        p1 = (round(x1 * width) - 1, round(y1 * height) - 1)
        if mark.dashed:
            dashed_rectangle(out, p0, p1, COLOURS[mark.part])
        else:
            cv2.rectangle(out, p0, p1, COLOURS[mark.part], LINE)
    return out


def panel(rgb: np.ndarray, marks: Sequence[Mark], notes: Sequence[tuple[str, str]]) -> np.ndarray:
    """The image at TILE_H with its boxes, above NOTE_LINES caption lines: per (part, text) note,
    a swatch of the part's colour and the text. The panel widens to fit a long note."""
    tile = draw_marks(to_height(rgb), marks)
    width = max([tile.shape[1], *(SWATCH + 3 * PAD + text_width(text) for _, text in notes)])
    caption = blank(width, NOTE_LINES * NOTE_H)
    for line, (part, text) in enumerate(notes):
        top = line * NOTE_H + (NOTE_H - SWATCH) // 2
        swatch(caption, PAD, top, COLOURS[part], "fill")
        put_text(caption, text, SWATCH + 2 * PAD, top + SWATCH - 1)
    return stack([tile, caption], gap=0)


def grid(tiles: Sequence[np.ndarray], columns: int, gap: int = PAD) -> np.ndarray:
    """Tiles in rows of `columns`, each row padded to the widest."""
    return stack([side_by_side(tiles[i:i + columns], gap) for i in range(0, len(tiles), columns)], gap)


def sample_ids(flagged: Sequence[str], others: Sequence[str], n: int, flagged_share: float, seed: int = 0) -> list[str]:
    """`n` ids (seeded, sorted): up to `flagged_share` of them flagged ones (the cases a person
    wants to check), the rest others, either side filling in where the other runs short."""
    rng = np.random.default_rng(seed)
    want = min(len(flagged), max(n - len(others), round(n * flagged_share)))
    chosen = list(rng.permutation(np.asarray(flagged, dtype=object))[:want])
    chosen += list(rng.permutation(np.asarray(others, dtype=object))[:n - want])
    return sorted(str(i) for i in chosen)
