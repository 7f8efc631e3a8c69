"""Pictures: CMC files, query choice, protocol-correct top matches, and the exact layout and
colours of the ranking sheet and the part-mask figure, their titles, headers, labels and legends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from reid.evaluation import run as evaluation_run
from reid.evaluation.extract import Extraction
from reid.evaluation.metrics import evaluate_features
from reid.evaluation.pictures import (
    DIMMED,
    GAP,
    GREEN,
    GREY,
    HEADER_H,
    RANKING_KEYS,
    RED,
    ROW_GAP,
    ROW_LABEL_W,
    TILE_H,
    TILE_W,
    MaskSamples,
    choose_queries,
    part_mask_sheet,
    ranking_sheet,
    top_matches,
    write_cmc,
)
from reid.utils.drawing import (
    COLOURS,
    LEGEND_H,
    NOTE_H,
    SWATCH,
    TITLE_H,
    Key,
    legend_slots,
)
from reid.masks.grid import PatchGrid
from reid.utils.images import read_image, write_image
from tests.evaluation.helpers import on_circle
from tests.kit.manifests import manifest_rows

TOP = TITLE_H + HEADER_H  # first pixel row of the tiles


def flat_images(folder: Path, values: list[int]) -> list[str]:
    """Flat grey 128x64 PNGs, one per value."""
    paths = []
    for i, v in enumerate(values):
        write_image(folder / f"{i}.png", np.full((128, 64, 3), v, np.uint8))
        paths.append(str(folder / f"{i}.png"))
    return paths


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
    sheet = ranking_sheet([paths[0], paths[3]], ranked, match, tmp_path / "sheet.png", pids=[7, 1491], ap=[1.0, 1 / 3],
                          title="muva.pt on MA")
    assert sheet.shape == (TOP + 2 * TILE_H + ROW_GAP + LEGEND_H, ROW_LABEL_W + 4 * TILE_W + GAP, 3)
    assert np.array_equal(read_image(tmp_path / "sheet.png"), sheet)

    def tile(row: int, col: int) -> np.ndarray:  # col 0 = query, 1.. = ranked
        y, x = TOP + row * (TILE_H + ROW_GAP), ROW_LABEL_W + col * TILE_W + (GAP if col else 0)
        return sheet[y:y + TILE_H, x:x + TILE_W]

    expected = {(0, 1): GREEN, (0, 2): RED, (1, 1): RED, (1, 2): RED, (1, 3): GREEN}
    for (row, col), colour in expected.items():
        t = tile(row, col)
        assert tuple(t[0, 0]) == tuple(t[-1, -1]) == tuple(t[TILE_H // 2, 0]) == colour
    assert tuple(tile(0, 0)[0, 0]) == GREY and tuple(tile(0, 0)[TILE_H // 2, TILE_W // 2]) == (40, 40, 40)
    assert tuple(tile(0, 1)[TILE_H // 2, TILE_W // 2]) == (80, 80, 80)
    assert (tile(0, 3) == 255).all()  # nothing left to rank: blank


def test_ranking_sheet_has_a_title_rank_numbers_per_query_labels_and_a_legend(tmp_path: Path) -> None:
    paths = flat_images(tmp_path, [40, 80])
    sheet = ranking_sheet([paths[0]], [[paths[1]] * 3], np.array([[True, False, True]]), tmp_path / "sheet.png",
                          pids=[7], ap=[0.8333], title="muva.pt on MA: mAP 83.33%")
    assert (sheet[:TITLE_H] < 100).any()  # the title, in ink
    header = sheet[TITLE_H:TOP]
    assert (header[:, :ROW_LABEL_W] == 255).all()
    for col in range(4):  # "query", then 1, 2, 3 above the gallery columns
        x = ROW_LABEL_W + col * TILE_W + (GAP if col else 0)
        assert (header[:, x:x + TILE_W] < 100).any()
    label = sheet[TOP:TOP + TILE_H, :ROW_LABEL_W]
    assert (label < 100).any() and (label[:, -4:] == 255).all()  # "pid 7", "AP 83.3%", clear of the tiles
    legend, top = sheet[-LEGEND_H:], (LEGEND_H - SWATCH) // 2
    for x, colour in zip(legend_slots(RANKING_KEYS), (GREY, GREEN, RED), strict=True):
        assert tuple(legend[top, x]) == colour and tuple(legend[top + SWATCH // 2, x + SWATCH // 2]) == (255, 255, 255)


def test_ranking_sheet_rows_carry_the_evaluators_ap_and_pid(tmp_path: Path, monkeypatch) -> None:
    # query 0 (pid 1, camera 0): gallery by distance g0 (pid 1, cam 1: match), g1 (pid 2), g2 (pid 1, cam 1: match)
    # -> AP = (1/1 + 2/3) / 2; query 1 (pid 2, camera 0): g3 (pid 2, cam 0) removed, g2 (pid 1), g1 (pid 2, cam 1)
    # -> AP = 1/2
    features = on_circle([0, 100, 0, 10, 20, 101])
    query = manifest_rows(["q0", "q1"], pids=[1, 2], camids=0)
    gallery = manifest_rows(["g0", "g1", "g2", "g3"], pids=[1, 2, 1, 2], camids=[1, 1, 1, 0])
    metrics = evaluate_features(features[:2], features[2:], query["pid"].to_numpy(), gallery["pid"].to_numpy(),
                                query["camid"].to_numpy(), gallery["camid"].to_numpy(), max_rank=10)
    shown = {}
    monkeypatch.setattr(evaluation_run, "ranking_sheet", lambda *args, **kwargs: shown.update(kwargs, ranked=args[1]))
    evaluation_run.write_ranking_sheet(features, query, gallery, metrics, 2, tmp_path / "s.png", "muva.pt on T")
    assert shown["pids"] == [1, 2] and shown["ap"] == pytest.approx([(1 + 2 / 3) / 2, 1 / 2])
    assert shown["ap"] == metrics.ap.tolist()
    assert shown["ranked"][0][:3] == ["g0", "g1", "g2"]
    assert shown["title"] == f"muva.pt on T: mAP {100 * metrics.mAP:.2f}%, top-10 gallery images of 2 queries"


def test_part_mask_sheet_tints_the_predicted_patches(tmp_path: Path) -> None:
    paths = flat_images(tmp_path, [100, 100, 100])
    masks = np.zeros((2, 3, 128), bool)
    masks[0, 0, 0] = True  # head: top-left patch of the first image
    masks[0, 2, 120:] = True  # legs: bottom patch row
    grid = PatchGrid()
    samples = {"MA": MaskSamples(paths[:2], [3, 12], masks), "C3": MaskSamples(paths[2:], [1491], masks[:1])}
    sheet = part_mask_sheet(samples, grid, ("head", "upper", "legs"), tmp_path / "masks.png", title="Part masks")
    sample, row = GAP + 4 * TILE_W, TILE_H + NOTE_H
    assert sheet.shape == (TOP + 2 * row + ROW_GAP + LEGEND_H, 2 * sample, 3)
    first = sheet[TOP:TOP + TILE_H, GAP:sample]  # image, head, upper, legs
    head, upper, legs = (first[:, k * TILE_W:(k + 1) * TILE_W] for k in (1, 2, 3))
    tinted = lambda part: tuple(round(0.5 * 100 + 0.5 * c) for c in COLOURS[part])
    cell = TILE_W // grid.cols  # tile pixels per patch
    assert tuple(head[0, 0]) == tinted("head") and tuple(head[cell - 1, cell - 1]) == tinted("head")
    assert tuple(head[cell, cell]) == (35, 35, 35)  # outside the mask: dimmed
    assert (upper == 35).all()
    assert tuple(legs[-1, 0]) == tinted("legs") and tuple(legs[-cell - 1, 0]) == (35, 35, 35)
    assert (sheet[TOP + row + ROW_GAP:TOP + 2 * row + ROW_GAP, sample:] == 255).all()  # the shorter row: white


def test_part_mask_sheet_names_its_columns_and_images_and_has_a_legend(tmp_path: Path) -> None:
    paths = flat_images(tmp_path, [100])
    parts = ("head", "upper", "legs")
    sheet = part_mask_sheet({"MA": MaskSamples(paths, [3], np.zeros((1, 3, 128), bool))}, PatchGrid(), parts,
                            tmp_path / "masks.png", title="Part masks predicted by muva.pt")
    assert (sheet[:TITLE_H] < 100).any()
    header = sheet[TITLE_H:TOP]
    assert (header[:, :GAP] == 255).all()
    for col in range(4):  # image, head, upper, legs
        assert (header[:, GAP + col * TILE_W:GAP + (col + 1) * TILE_W] < 100).any()
    caption = sheet[TOP + TILE_H:TOP + TILE_H + NOTE_H, GAP:]
    assert (caption[:, :TILE_W] < 100).any()  # "MA pid 3" under the image
    legend, top = sheet[-LEGEND_H:], (LEGEND_H - SWATCH) // 2
    colours = [COLOURS[p] for p in parts] + [DIMMED]
    for x, colour in zip(legend_slots([Key(p) for p in ("head patches", "upper patches", "legs patches",
                                                        "other patches")]), colours, strict=True):
        assert tuple(legend[top + SWATCH // 2, x + SWATCH // 2]) == colour  # filled swatches


def test_mask_samples_carry_the_images_pids() -> None:
    rows = manifest_rows([f"{i}.png" for i in range(7)], pids=[10, 11, 12, 13, 14, 15, 16])
    masks = torch.arange(7 * 3 * 4).reshape(7, 3, 4) % 2 == 0
    samples = evaluation_run.mask_samples(rows, Extraction(torch.zeros(7, 2), masks), 3)
    assert samples.paths == ["0.png", "3.png", "6.png"] and samples.pids == [10, 13, 16]
    assert np.array_equal(samples.masks, masks[[0, 3, 6]].numpy())
    assert evaluation_run.mask_samples(rows, Extraction(torch.zeros(7, 2), None), 3) is None
