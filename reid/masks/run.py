"""The calibrate step end to end: grounding boxes + training manifest → masks, report, plot, metrics."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import polars as pl

from reid.grounding.parts import EQUAL_THIRDS, PARTS
from reid.masks.boxes import collect_boxes
from reid.masks.calibration import calibrate as calibrate_boxes
from reid.masks.config import Calibration, Masks
from reid.masks.grid import PatchGrid
from reid.masks.report import (
    height_histograms,
    mean_iou,
    plot_height_histograms,
    replacement_counts,
    truth_boxes,
)
from reid.masks.sheet import calibration_sheet
from reid.masks.store import write_masks
from reid.masks.voting import equal_thirds_masks, stripe_boxes, vote
from reid.wiring import StageIO, StageParams


def run_calibrate(
    boxes_path: Path,
    train_path: Path,
    out_dir: Path,
    plot: Path,
    plot_data: Path,
    sheet: Path,
    metrics_path: Path,
    calibration: Calibration,
    masks: Masks,
    grid: PatchGrid,
) -> dict:
    """Calibrate the boxes of the protocol's training images and vote them onto `grid`.

    `plot` and `plot_data` are the Fig. 5 histograms (PNG, CSV); `sheet` shows
    `calibration.sheet_images` images with their raw and calibrated boxes side by side.
    """
    train = pl.read_parquet(train_path)
    store = pl.read_parquet(boxes_path)
    image_ids = train["image_id"].to_list()
    raw = collect_boxes(store, image_ids, PARTS, calibration.choose)
    calibrated = calibrate_boxes(raw, calibration)
    if masks.mode == "stripes":  # the one equal-thirds definition, whatever masks.rule says
        final = stripe_boxes(len(image_ids), EQUAL_THIRDS, PARTS)
        votes = np.broadcast_to(equal_thirds_masks(grid, PARTS), (len(image_ids), len(PARTS), grid.rows * grid.cols))
    else:
        final = calibrated.boxes
        votes = vote(final, grid, masks.rule, masks.coverage)

    out_dir = Path(out_dir)
    meta = {"rows": grid.rows, "cols": grid.cols, "parts": list(PARTS), "grid": asdict(grid), "mode": masks.mode}
    write_masks(out_dir / "masks.parquet", image_ids, votes, meta)
    _write_boxes(out_dir / "boxes.parquet", image_ids, final, calibrated.reason)

    hist = height_histograms(raw, calibrated)
    for path in (plot, plot_data, sheet):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    hist.write_csv(plot_data)
    plot_height_histograms(hist, PARTS, calibrated, Path(plot))
    calibration_sheet(train["path"].to_list(), raw, calibrated, Path(sheet), calibration.sheet_images,
                      _setting(calibration, masks))

    counts = replacement_counts(calibrated, PARTS)
    truth = truth_boxes(train, PARTS)
    iou = {} if truth is None else {"raw": mean_iou(raw.boxes, truth, PARTS), masks.mode: mean_iou(final, truth, PARTS)}
    empty = {p: int((~votes[:, j].any(axis=1)).sum()) for j, p in enumerate(PARTS)}
    report = {
        "synthetic": bool(train["synthetic"].any()),
        "images": len(image_ids),
        "calibration": calibration.model_dump(exclude={"sheet_images"}),  # the algorithm's keys, not the picture's
        "masks": masks.model_dump(),
        "grid": asdict(grid),
        "sanitised": dict(raw.sanitised),
        "counts": counts,
        "thresholds": calibrated.thresholds,
        "stripe_windows": calibrated.windows,
        "empty_masks": empty,
        "iou_with_truth": iou,
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    metrics = {
        "synthetic": report["synthetic"],
        "replaced_fraction": {p: round(1 - counts[p].get("kept", 0) / max(1, len(image_ids)), 4) for p in PARTS},
        **({"iou_" + k: {p: round(v, 4) for p, v in d.items()} for k, d in iou.items()}),
    }
    Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics_path).write_text(json.dumps(metrics, indent=2) + "\n")
    return report


def _setting(calibration: Calibration, masks: Masks) -> str:
    """How the sheet's boxes were calibrated, and whether the masks follow them."""
    setting = f"{calibration.rule} rule, {calibration.choose} box" if calibration.enabled else "disabled"
    return setting + ("; masks.mode stripes: the masks ignore these boxes" if masks.mode == "stripes" else "")


def _write_boxes(path: Path, image_ids: list[str], boxes: np.ndarray, reason: np.ndarray) -> None:
    """The boxes that voted (long format), with why a raw box was replaced ("" = kept)."""
    n, p = boxes.shape[:2]
    pl.DataFrame(
        {
            "image_id": np.repeat(image_ids, p),
            "part": np.tile(PARTS, n),
            "x0": boxes[..., 0].ravel(),
            "y0": boxes[..., 1].ravel(),
            "x1": boxes[..., 2].ravel(),
            "y1": boxes[..., 3].ravel(),
            "replaced": reason.astype(str).ravel(),
        }
    ).write_parquet(path)


def calibrate(params: StageParams, io: StageIO) -> None:
    """Stage `calibrate`."""
    out = io.outputs
    run_calibrate(boxes_path=io.inputs["boxes"], train_path=io.inputs["train"], out_dir=out["masks"],
                  plot=out["plot"], plot_data=out["plot_data"], sheet=out["sheet"], metrics_path=out["metrics"],
                  calibration=params.calibration, masks=params.masks, grid=params.model.grid)
