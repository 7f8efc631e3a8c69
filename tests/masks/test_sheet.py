"""The calibration sheet by pixel: raw and calibrated boxes side by side, replaced boxes
dashed and named, crops at their own aspect ratio, replaced images preferred, title, legend."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from pathlib import Path

import numpy as np

from reid.utils.drawing import (
    COLOURS,
    DASH,
    LEGEND_H,
    NOTE_H,
    NOTE_LINES,
    PAD,
    SWATCH,
    TILE_H,
    TITLE_H,
    legend_slots,
)
from reid.masks.boxes import PartBoxes
from reid.masks.calibration import Calibrated
from reid.masks.sheet import HEADER_H, KEYS, calibration_sheet
from reid.utils.images import read_image, write_image

PARTS = ("head", "upper", "legs")
HEAD, UPPER, LEGS = [0.25, 0.05, 0.75, 0.2], [0.1, 0.2, 0.9, 0.55], [0.1, 0.55, 0.9, 0.95]
STRIPE = [0.0, 0.0, 1.0, 0.25]  # the head's stripe window
GREY = (120, 120, 120)
TOP = TITLE_H + HEADER_H  # first pixel row of the images


def boxes_of(n: int) -> tuple[PartBoxes, Calibrated]:
    """`n` images with true boxes; image 0's head hallucinated (replaced: too_large), image 1's legs
    missing (no_box, replaced), the others untouched."""
    raw = np.tile(np.array([HEAD, UPPER, LEGS], dtype=np.float64), (n, 1, 1))
    missing = np.full((n, 3), "", dtype=object)
    raw[0, 0] = [0.0, 0.0, 1.0, 1.0]
    raw[1, 2], missing[1, 2] = np.nan, "no_box"
    cal, reason = raw.copy(), missing.copy()
    cal[0, 0], reason[0, 0] = STRIPE, "too_large"
    cal[1, 2] = [0.0, 0.55, 1.0, 0.95]
    ids = [f"DS/{i}" for i in range(n)]
    return PartBoxes(ids, PARTS, raw, missing, Counter()), Calibrated(cal, reason)


def flat_crops(folder: Path, widths: list[int]) -> list[str]:
    """Flat grey crops 128 high, `widths` wide."""
    paths = []
    for i, w in enumerate(widths):
        write_image(folder / f"{i}.png", np.full((128, w, 3), GREY, np.uint8))
        paths.append(str(folder / f"{i}.png"))
    return paths


def spans(sheet: np.ndarray) -> list[np.ndarray]:
    """The columns of each image (raw, calibrated, raw, ...): the runs of non-white pixels along a row of images."""
    image = np.flatnonzero((sheet[TOP + 250] != 255).any(axis=1))
    return np.split(image, np.flatnonzero(np.diff(image) > 1) + 1)


def test_raw_and_calibrated_side_by_side_the_replaced_box_dashed_and_named(tmp_path: Path) -> None:
    raw, calibrated = boxes_of(2)
    paths = flat_crops(tmp_path, [64, 32])
    assert calibration_sheet(paths, raw, calibrated, tmp_path / "sheet.png", 2, "mad rule") == 2
    sheet = read_image(tmp_path / "sheet.png")
    (raw_x, *_), (cal_x, *_), (x1, *_), _ = spans(sheet)
    width = 128  # image 0: a 64 x 128 crop at TILE_H = 256
    assert (raw_x, cal_x) == (0, width + PAD)
    raw0, cal0 = sheet[TOP:TOP + TILE_H, :width], sheet[TOP:TOP + TILE_H, cal_x:cal_x + width]
    assert (raw0[0, :] == COLOURS["head"]).all()  # the hallucinated whole-image head box, solid
    y = 0  # the stripe window's top edge, dashed
    assert tuple(cal0[y, DASH // 2]) == COLOURS["head"] and tuple(cal0[y, DASH + DASH // 2]) == GREY
    upper_top = round(UPPER[1] * TILE_H)
    assert (raw0[upper_top, 20:100] == COLOURS["upper"]).all() and (cal0[upper_top, 20:100] == COLOURS["upper"]).all()
    notes = sheet[TOP + TILE_H:TOP + TILE_H + NOTE_LINES * NOTE_H]
    middle = (NOTE_H - SWATCH) // 2 + SWATCH // 2
    assert (notes[:, :width] == 255).all()  # the raw head box existed: nothing to name under it
    assert tuple(notes[middle, cal_x + PAD + SWATCH // 2]) == COLOURS["head"]  # "head replaced: too_large"
    assert (notes[:NOTE_H, cal_x + 2 * PAD + SWATCH:x1] < 100).any()
    # image 1: legs no_box under the raw panel, its legs box missing there
    assert tuple(notes[middle, x1 + PAD + SWATCH // 2]) == COLOURS["legs"]  # "legs: no_box"
    raw1 = sheet[TOP:TOP + TILE_H, x1:x1 + 64]
    assert not (raw1 == COLOURS["legs"]).all(axis=2).any()


def test_crops_keep_their_aspect_ratio(tmp_path: Path) -> None:
    raw, calibrated = boxes_of(3)
    paths = flat_crops(tmp_path, [64, 32, 128])
    calibration_sheet(paths, raw, calibrated, tmp_path / "sheet.png", 3, "mad rule")
    sheet = read_image(tmp_path / "sheet.png")
    assert [len(s) for s in spans(sheet)] == [128, 128, 64, 64, 256, 256]  # raw | calibrated of each, TILE_H high


def test_images_with_a_replaced_box_come_first_then_untouched_ones(tmp_path: Path) -> None:
    raw, calibrated = boxes_of(12)
    paths = flat_crops(tmp_path, [64] * 12)
    calibration_sheet(paths, raw, calibrated, tmp_path / "sheet.png", 4, "mad rule", columns=4)
    sheet = read_image(tmp_path / "sheet.png")
    notes = sheet[TOP + TILE_H:TOP + TILE_H + NOTE_LINES * NOTE_H]
    starts = [s[0] for s in spans(sheet)[::2]] + [sheet.shape[1]]  # where each image's pair begins
    named = [bool((notes[:, a:b] < 255).any()) for a, b in pairwise(starts)]
    assert named == [True, True, False, False]  # both replaced images (ids sorted), two untouched ones


def test_title_and_legend(tmp_path: Path) -> None:
    raw, calibrated = boxes_of(2)
    calibration_sheet(flat_crops(tmp_path, [64, 64]), raw, calibrated, tmp_path / "sheet.png", 2, "mad rule")
    sheet = read_image(tmp_path / "sheet.png")
    assert (sheet[:TITLE_H] < 100).any() and (sheet[TITLE_H:TOP] < 100).any()  # title, then "raw" / "calibrated"
    legend, top = sheet[-LEGEND_H:], (LEGEND_H - SWATCH) // 2
    xs = legend_slots(KEYS)
    for x, part in zip(xs, PARTS, strict=False):
        assert tuple(legend[top, x]) == COLOURS[part]
    assert tuple(legend[top, xs[3]]) == (0, 0, 0)  # the dashed swatch's corner
    assert tuple(legend[top + SWATCH // 2, xs[3] + SWATCH // 2]) == (255, 255, 255)
    assert sheet.shape[0] == TOP + TILE_H + NOTE_LINES * NOTE_H + LEGEND_H


def test_unreadable_images_are_left_out(tmp_path: Path) -> None:
    raw, calibrated = boxes_of(2)
    paths = [*flat_crops(tmp_path, [64]), str(tmp_path / "absent.png")]
    assert calibration_sheet(paths, raw, calibrated, tmp_path / "sheet.png", 2, "mad rule") == 1
    assert calibration_sheet(paths[1:] * 2, raw, calibrated, tmp_path / "empty.png", 2, "mad rule") == 0
    empty = read_image(tmp_path / "empty.png")
    assert empty.shape[0] == TITLE_H + 1 + LEGEND_H  # nothing to draw: the title and legend still say what it is
