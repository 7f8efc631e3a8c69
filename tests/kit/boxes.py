"""Part boxes by hand: the ground truth a synthetic dataset folder carries, and grounding answers
in the box store's types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from reid.grounding.store import SCHEMA
from reid.synth.layouts import GT_BOXES


def write_gt_boxes(dataset_dir: Path, image_ids: Sequence[str], boxes: Mapping[str, Sequence[float]], width: int,
                   height: int) -> None:
    """`gt_boxes.parquet` giving every image the same pixel box (x0, y0, x1, y1) per part."""
    rows = [(i, part, *box, width, height) for i in image_ids for part, box in boxes.items()]
    pl.DataFrame(rows, schema=["image_id", "part", "x0", "y0", "x1", "y1", "width", "height"], orient="row").write_parquet(
        Path(dataset_dir) / GT_BOXES)


def box_rows(rows: Sequence[tuple[str, str, list, str]], **columns: Any) -> pl.DataFrame:
    """Answers (image_id, part, boxes, status) with the store's column types; `columns` adds store
    columns with one value for every row (`expert`, `version`, ...)."""
    frame = pl.DataFrame(rows, schema={k: SCHEMA[k] for k in ("image_id", "part", "boxes", "status")}, orient="row")
    return frame.with_columns(pl.lit(value, SCHEMA[key]).alias(key) for key, value in columns.items())
