"""Append-only parquet store of expert answers, one folder per expert identity and dataset.

An `AppendStore` (`reid.utils.append_store`: atomic batch files, one folder per identity,
shardable by rank, latest attempt wins, compaction, corrupt files set aside) keyed by image and
part. `<tag>` = expert name + a hash of everything that can change an answer (version, prompts,
parameters). Every row carries the `attempt` that produced it (rows of stores older than the
column read as attempt 1); an image whose answers were `error` is grounded again with the next
attempt number.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from reid.grounding.parts import PARTS
from reid.utils.append_store import AppendStore, store_tag

SCHEMA: dict[str, pl.DataType] = {
    "image_id": pl.String,
    "dataset": pl.String,
    "part": pl.String,
    "boxes": pl.List(pl.List(pl.Float64)),  # [[x0, y0, x1, y1], ...] normalised 0..1
    "raw": pl.String,
    "status": pl.String,
    "message": pl.String,
    "expert": pl.String,
    "version": pl.String,
    "seconds": pl.Float64,  # expert time per image (batch time / batch images)
    "attempt": pl.Int32,  # 1 = first grounding of the image, 2 = first retry after an `error`, ...
}


def expert_tag(identity: dict[str, Any]) -> str:
    """Folder name of an expert: readable name + hash of its full identity."""
    return store_tag(identity)


def sort_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Deterministic order: image_id, then head / upper / legs."""
    rank = {p: i for i, p in enumerate(PARTS)}
    return frame.sort([pl.col("image_id"), pl.col("part").replace_strict(rank, return_dtype=pl.Int8)])


class GroundingStore(AppendStore):
    """The answers of one expert identity; groups are datasets."""

    schema = SCHEMA
    keys = ("image_id", "part")
    optional = {"attempt": 1}  # columns older stores lack, and the value their rows read as
    what = "grounding store"
    redo = "its images are grounded again"
    identity_file = "expert.json"

    def sort(self, frame: pl.DataFrame) -> pl.DataFrame:
        return sort_rows(frame)

    def datasets(self) -> list[str]:
        return self.groups()

    def done_ids(self, max_attempts: int | None = None) -> set[str]:
        """Image ids never grounded again: an answer for every part and none `error`
        (or, given `max_attempts`, an `error` that has used every attempt)."""
        state = image_state(self.read())
        finished = pl.col("failed").not_()
        if max_attempts is not None:
            finished = finished | (pl.col("attempt") >= max_attempts)
        return set(state.filter((pl.col("parts") == len(PARTS)) & finished)["image_id"].to_list())


def image_state(answers: pl.DataFrame) -> pl.DataFrame:
    """Per image of the merged store: parts answered, whether any is `error`, its latest attempt."""
    return answers.group_by("image_id").agg(
        pl.len().alias("parts"), (pl.col("status") == "error").any().alias("failed"), pl.col("attempt").max()
    )
