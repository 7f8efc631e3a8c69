"""The grounding contact sheet (Fig. 4) by pixel: crops at their own aspect ratio, failed
answers named under their image, title and legend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from reid.grounding.contact_sheet import FAILED_KEY, contact_sheet
from reid.utils.drawing import COLOURS, LEGEND_H, NOTE_H, PAD, SWATCH, TILE_H, TITLE_H, Key, legend_slots
from reid.utils.images import read_image, write_image
from tests.kit.boxes import box_rows

FLAT = {"a": (90, 90, 90), "b": (150, 150, 150), "c": (210, 170, 40)}  # no part colour among them
SIZES = {"a": (128, 64), "b": (128, 32), "c": (100, 100)}  # (height, width) of each crop
HEAD, UPPER = [0.3, 0.02, 0.7, 0.18], [0.2, 0.2, 0.8, 0.5]


def answers(folder: Path) -> tuple[pl.DataFrame, dict[str, str]]:
    """Grounding rows of a, b, c (b's head no_box and legs error) and d (unreadable), with their paths."""
    paths = {}
    for image_id, (h, w) in SIZES.items():
        write_image(folder / f"{image_id}.png", np.full((h, w, 3), FLAT[image_id], np.uint8))
        paths[image_id] = str(folder / f"{image_id}.png")
    (folder / "d.png").write_bytes(b"not an image")
    paths["d"] = str(folder / "d.png")
    rows = [("a", "head", [HEAD], "ok"), ("b", "head", [], "no_box"), ("b", "upper", [UPPER], "ok"),
            ("b", "legs", [], "error"), ("c", "head", [HEAD], "ok"), ("d", "head", [HEAD], "ok")]
    return box_rows(rows, expert="stripes", version="3"), paths


def runs(row: np.ndarray) -> dict[tuple[int, ...], int]:
    """Pixels of each colour along one image row."""
    colours, counts = np.unique(row.reshape(-1, 3), axis=0, return_counts=True)
    return {tuple(int(v) for v in c): int(n) for c, n in zip(colours, counts, strict=True)}


def test_crops_keep_their_aspect_ratio_and_unreadable_ones_are_left_out(tmp_path: Path) -> None:
    frame, paths = answers(tmp_path)
    assert contact_sheet(frame, paths, tmp_path / "sheet.png", n=4) == 3
    sheet = read_image(tmp_path / "sheet.png")
    across = runs(sheet[TITLE_H + 200])  # below every box
    assert [across[FLAT[i]] for i in "abc"] == [128, 64, 256]  # each scaled to TILE_H = 256, width in proportion
    assert sheet.shape[0] == TITLE_H + TILE_H + 3 * NOTE_H + LEGEND_H


def test_failed_answers_are_named_under_their_image_in_the_part_colour(tmp_path: Path) -> None:
    frame, paths = answers(tmp_path)
    contact_sheet(frame, paths, tmp_path / "sheet.png", n=4)
    sheet = read_image(tmp_path / "sheet.png")
    x_b = 128 + PAD  # a is 128 wide
    image_b = sheet[TITLE_H:TITLE_H + TILE_H, x_b:x_b + 64]
    assert not (image_b == COLOURS["head"]).all(axis=2).any()  # no head box drawn: its answer failed
    assert (image_b == COLOURS["upper"]).all(axis=2).any()
    caption = sheet[TITLE_H + TILE_H:TITLE_H + TILE_H + 3 * NOTE_H]
    middle = (NOTE_H - SWATCH) // 2 + SWATCH // 2
    assert tuple(caption[middle, x_b + PAD + SWATCH // 2]) == COLOURS["head"]  # line 1: "head: no_box"
    assert tuple(caption[NOTE_H + middle, x_b + PAD + SWATCH // 2]) == COLOURS["legs"]  # line 2: "legs: error"
    assert (caption[:NOTE_H, x_b + PAD + SWATCH:] < 100).any()  # the line's text, in ink
    assert (caption[2 * NOTE_H:, x_b:] == 255).all()  # no third failure
    assert (caption[:, :128] == 255).all()  # a's answers are all ok: nothing to name


def test_title_and_legend_of_part_colours_and_the_failure_marking(tmp_path: Path) -> None:
    frame, paths = answers(tmp_path)
    contact_sheet(frame, paths, tmp_path / "sheet.png", n=4)
    sheet = read_image(tmp_path / "sheet.png")
    title, legend = sheet[:TITLE_H], sheet[-LEGEND_H:]
    assert (title < 100).any() and tuple(title[0, 0]) == (255, 255, 255)
    keys = [Key(part, colour) for part, colour in COLOURS.items()] + [FAILED_KEY]
    top = (LEGEND_H - SWATCH) // 2
    for x, key in zip(legend_slots(keys), keys[:3], strict=False):
        assert tuple(legend[top, x]) == key.colour  # outlined like a box
        assert tuple(legend[top + SWATCH // 2, x + SWATCH // 2]) == (255, 255, 255)
    assert (legend[:, legend_slots(keys)[3]:] < 100).any()  # the failure marking, explained in words
