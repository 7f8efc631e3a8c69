"""Pictures: CMC files, query choice, protocol-correct top matches, and the exact layout and
colours of the ranking sheet and the part-mask figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import torch

from reid.evaluation.pictures import (
    GAP,
    GREEN,
    GREY,
    LABEL_W,
    RED,
    ROW_GAP,
    TILE_H,
    TILE_W,
    choose_queries,
    part_mask_sheet,
    ranking_sheet,
    top_matches,
    write_cmc,
)
from reid.grounding.contact_sheet import COLOURS
from reid.masks.grid import PatchGrid
from reid.utils.images import read_image, write_image


def flat_images(folder: Path, values: list[int]) -> list[str]:
    """Flat grey 128x64 PNGs, one per value."""
    paths = []
    for i, v in enumerate(values):
        write_image(folder / f"{i}.png", np.full((128, 64, 3), v, np.uint8))
        paths.append(str(folder / f"{i}.png"))
    return paths


def on_circle(degrees: list[float]) -> torch.Tensor:
    rad = torch.deg2rad(torch.tensor(degrees, dtype=torch.float64))
    return torch.stack([rad.cos(), rad.sin()], dim=1).float()


def test_cmc_files_hold_percent_per_target_and_replace_stale_ones(tmp_path: Path) -> None:
    (tmp_path / "cmc").mkdir()
    (tmp_path / "cmc" / "OLD.csv").write_text("rank,cmc\n")
    write_cmc({"MA": np.array([0.5, 0.75, 1.0]), "C3": np.array([0.123456, 1.0, 1.0])},
              tmp_path / "cmc", tmp_path / "cmc.png")
    assert sorted(p.name for p in (tmp_path / "cmc").iterdir()) == ["C3.csv", "MA.csv"]
    ma = pl.read_csv(tmp_path / "cmc" / "MA.csv")
    assert ma.columns == ["rank", "cmc"] and ma.rows() == [(1, 50.0), (2, 75.0), (3, 100.0)]
    assert pl.read_csv(tmp_path / "cmc" / "C3.csv")["cmc"][0] == 12.35
    assert read_image(tmp_path / "cmc.png").shape[2] == 3


def test_queries_are_evenly_spread_over_those_with_a_match() -> None:
    first_hit = np.array([-1, 0, 3, -1, 1, 2, -1])
    assert choose_queries(first_hit, 2).tolist() == [1, 5]
    assert choose_queries(first_hit, 3).tolist() == [1, 4, 5]  # positions 0, 1.5 -> 2, 3 of [1, 2, 4, 5]
    assert choose_queries(first_hit, 10).tolist() == [1, 2, 4, 5]


def test_top_matches_follow_the_protocol() -> None:
    # query pid 1, camera 0. Gallery by distance: g0 (same pid + camera: removed), g3 (junk: removed),
    # g1 (pid 2), g2 (pid 1, camera 1: the match), g4 (pid-0 distractor: kept, a negative).
    index, match = top_matches(on_circle([0]), on_circle([0, 10, 20, 5, 30]), np.array([1]),
                               np.array([1, 2, 1, -1, 0]), np.array([0]), np.array([0, 1, 1, 0, 2]), k=10)
    assert index.tolist() == [[1, 2, 4] + [-1] * 7]
    assert match.tolist() == [[False, True, False] + [False] * 7]


def test_ranking_sheet_frames_true_matches_green_and_false_red(tmp_path: Path) -> None:
    paths = flat_images(tmp_path, [40, 80, 120, 160])
    ranked = [[paths[1], paths[2], None], [paths[3], paths[1], paths[2]]]
    match = np.array([[True, False, False], [False, False, True]])
    sheet = ranking_sheet([paths[0], paths[3]], ranked, match, tmp_path / "sheet.png")
    assert sheet.shape == (2 * TILE_H + ROW_GAP, 4 * TILE_W + GAP, 3)
    assert np.array_equal(read_image(tmp_path / "sheet.png"), sheet)

    def tile(row: int, col: int) -> np.ndarray:  # col 0 = query, 1.. = ranked
        y, x = row * (TILE_H + ROW_GAP), col * TILE_W + (GAP if col else 0)
        return sheet[y:y + TILE_H, x:x + TILE_W]

    expected = {(0, 1): GREEN, (0, 2): RED, (1, 1): RED, (1, 2): RED, (1, 3): GREEN}
    for (row, col), colour in expected.items():
        t = tile(row, col)
        assert tuple(t[0, 0]) == tuple(t[-1, -1]) == tuple(t[TILE_H // 2, 0]) == colour
    assert tuple(tile(0, 0)[0, 0]) == GREY and tuple(tile(0, 0)[TILE_H // 2, TILE_W // 2]) == (40, 40, 40)
    assert tuple(tile(0, 1)[TILE_H // 2, TILE_W // 2]) == (80, 80, 80)
    assert (tile(0, 3) == 255).all()  # nothing left to rank: blank


def test_part_mask_sheet_tints_the_predicted_patches(tmp_path: Path) -> None:
    paths = flat_images(tmp_path, [100, 100, 100])
    masks = np.zeros((2, 3, 128), bool)
    masks[0, 0, 0] = True  # head: top-left patch of the first image
    masks[0, 2, 120:] = True  # legs: bottom patch row
    grid = PatchGrid()
    sheet = part_mask_sheet({"MA": (paths[:2], masks), "C3": (paths[2:], masks[:1])}, grid,
                            ("head", "upper", "legs"), tmp_path / "masks.png")
    sample = GAP + 4 * TILE_W
    assert sheet.shape == (2 * TILE_H + ROW_GAP, LABEL_W + 2 * sample, 3)
    first = sheet[:TILE_H, LABEL_W + GAP:LABEL_W + sample]  # image, head, upper, legs
    head, upper, legs = (first[:, k * TILE_W:(k + 1) * TILE_W] for k in (1, 2, 3))
    tinted = lambda part: tuple(round(0.5 * 100 + 0.5 * c) for c in COLOURS[part])  # noqa: E731
    cell = TILE_W // grid.cols  # tile pixels per patch
    assert tuple(head[0, 0]) == tinted("head") and tuple(head[cell - 1, cell - 1]) == tinted("head")
    assert tuple(head[cell, cell]) == (35, 35, 35)  # outside the mask: dimmed
    assert (upper == 35).all()
    assert tuple(legs[-1, 0]) == tinted("legs") and tuple(legs[-cell - 1, 0]) == (35, 35, 35)
    assert (sheet[TILE_H + ROW_GAP:, LABEL_W + sample:] == 255).all()  # the shorter row is padded white
