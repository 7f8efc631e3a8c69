"""Mask store round trip and the calibrate step end to end (report, plot, metrics, IoU)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from reid.utils.drawing import LEGEND_H, NOTE_H, NOTE_LINES, TILE_H, TITLE_H
from reid.masks.grid import PatchGrid
from reid.masks.run import run_calibrate
from reid.masks.sheet import HEADER_H, PAIR_GAP
from reid.masks.store import read_masks, write_masks
from reid.utils.images import read_image, write_image
from tests.kit.boxes import box_rows, write_gt_boxes
from tests.kit.manifests import manifest_rows
from tests.kit.params import section

PARTS = ("head", "upper", "legs")
TRUE = {"head": [0.3, 0.02, 0.7, 0.18], "upper": [0.2, 0.18, 0.8, 0.55], "legs": [0.25, 0.55, 0.75, 0.98]}


def test_store_round_trip_packs_bits(tmp_path: Path) -> None:
    masks = np.random.default_rng(1).random((37, 3, 128)) > 0.5
    ids = [f"MS/train/{i}.jpg" for i in range(37)]
    write_masks(tmp_path / "m.parquet", ids, masks, {"rows": 16, "cols": 8})
    got_ids, got, meta = read_masks(tmp_path / "m.parquet")
    assert got_ids == ids and got.dtype == torch.bool and torch.equal(got, torch.from_numpy(masks))
    assert meta["rows"] == 16 and meta["num_patches"] == 128
    assert pl.read_parquet(tmp_path / "m.parquet")["mask"].dtype == pl.Binary  # 48 bytes per image


def _inputs(tmp_path: Path, n: int = 40) -> tuple[Path, Path]:
    ds = tmp_path / "DS"
    ds.mkdir()
    relpaths = [f"img{i:02d}.jpg" for i in range(n)]
    for relpath in relpaths:
        write_image(ds / relpath, np.full((128, 64, 3), 100, np.uint8))
    train = manifest_rows(relpaths, root=ds, key="DS", width=64, height=128)
    train.write_parquet(tmp_path / "train.parquet")
    ids = train["image_id"].to_list()
    write_gt_boxes(ds, ids, {p: np.array(box) * [64, 128, 64, 128] for p, box in TRUE.items()}, 64, 128)
    rows = []
    for k, image_id in enumerate(ids):
        for p in PARTS:
            box = TRUE[p] if not (p == "head" and k < 4) else [0.0, 0.0, 1.0, 1.0]  # 4 hallucinated heads
            rows.append((image_id, p, [box], "ok"))
    box_rows(rows).write_parquet(tmp_path / "boxes.parquet")
    return tmp_path / "boxes.parquet", tmp_path / "train.parquet"


def plots(folder: Path) -> tuple[Path, Path, Path]:
    """run_calibrate's pictures under `folder`, named as the stage names them."""
    return folder / "box_heights.png", folder / "box_heights.csv", folder / "contact_sheet.png"


def test_run_calibrate_writes_masks_report_plot_and_metrics(tmp_path: Path) -> None:
    boxes, train = _inputs(tmp_path)
    report = run_calibrate(boxes, train, tmp_path / "masks", *plots(tmp_path / "plots"), tmp_path / "metrics.json",
                           section("calibration", sheet_images=8), section("masks"), PatchGrid())
    assert report["counts"]["head"] == {"kept": 36, "too_large": 4}
    ids, masks, _ = read_masks(tmp_path / "masks" / "masks.parquet")
    assert len(ids) == 40 and masks.shape == (40, 3, 128)
    # replaced heads become the learnt stripe (rows of the true head: y 0.02..0.18 -> rows 0..2)
    assert masks[0, 0].reshape(16, 8).any(dim=1).nonzero().ravel().tolist() == [0, 1, 2]
    assert torch.equal(masks[0, 1:], masks[10, 1:])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["synthetic"] is True and metrics["replaced_fraction"]["head"] == 0.1
    assert metrics["iou_raw"]["head"] < metrics["iou_calibrated"]["head"]
    assert metrics["iou_calibrated"]["upper"] == 1.0
    assert (tmp_path / "plots" / "box_heights.png").stat().st_size > 0
    hist = pl.read_csv(tmp_path / "plots" / "box_heights.csv")
    assert hist["head_before"].sum() == 40 and hist["head_after"].sum() == 40
    sheet = read_image(tmp_path / "plots" / "contact_sheet.png")  # 8 images: two rows of 4 raw | calibrated pairs
    assert sheet.shape[0] == TITLE_H + 2 * (HEADER_H + TILE_H + NOTE_LINES * NOTE_H) + PAIR_GAP + LEGEND_H


def test_stripes_mode_ignores_the_boxes(tmp_path: Path) -> None:
    boxes, train = _inputs(tmp_path)
    run_calibrate(boxes, train, tmp_path / "m", *plots(tmp_path / "p"), tmp_path / "metrics.json",
                  section("calibration"), section("masks", mode="stripes"), PatchGrid())
    _, masks, meta = read_masks(tmp_path / "m" / "masks.parquet")
    assert meta["mode"] == "stripes" and bool((masks == masks[0]).all())
    assert "iou_stripes" in json.loads((tmp_path / "metrics.json").read_text())


@pytest.mark.parametrize("rule", ["centre", "coverage"])
def test_stripes_mode_writes_the_model_s_stripe_attention_masks(tmp_path: Path, rule: str) -> None:
    """One equal-thirds definition: masks.rule does not move the stripes (coverage alone would give 5/5/5)."""
    from reid.model.attention_mask import stripe_part_masks

    boxes, train = _inputs(tmp_path)
    grid = PatchGrid()
    run_calibrate(boxes, train, tmp_path / "masks", *plots(tmp_path / "plots"), tmp_path / "metrics.json",
                  section("calibration"), section("masks", mode="stripes", rule=rule), grid)
    _, masks, _ = read_masks(tmp_path / "masks" / "masks.parquet")
    stripes = stripe_part_masks(grid)  # what `model.part_attention: stripes` attends with
    assert all(torch.equal(m, stripes) for m in masks)
    rows = masks[0].reshape(3, grid.rows, grid.cols).any(dim=2).sum(dim=1).tolist()
    assert rows == [5, 6, 5]
