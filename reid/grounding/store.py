"""Append-only parquet store of expert answers, one folder per expert identity and dataset.

Layout: `<root>/<tag>/<DATASET>/part-<rank>-<seq>.parquet`, one file per flushed batch,
written under a temporary name and renamed atomically, so a killed run loses at most the
batch in flight and never leaves a half-written file. `<tag>` = expert name + a hash of
everything that can change an answer (version, prompts, parameters): a new expert or
prompt starts a new folder instead of mixing results. Ranks write disjoint file names, so
any number of processes (on a shared file system, any number of nodes) append at once.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import polars as pl

from reid.grounding.parts import PARTS, short_hash

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
}
IDENTITY_FILE = "expert.json"
_FILE = re.compile(r"^part-(\d+)-(\d+)\.parquet$")


def expert_tag(identity: dict[str, Any]) -> str:
    """Folder name of an expert: readable name + hash of its full identity."""
    return f"{identity['name']}-{short_hash(identity)}"


def sort_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Deterministic order: image_id, then head / upper / legs."""
    rank = {p: i for i, p in enumerate(PARTS)}
    return frame.sort([pl.col("image_id"), pl.col("part").replace_strict(rank, return_dtype=pl.Int8)])


class GroundingStore:
    def __init__(self, root: str | os.PathLike, identity: dict[str, Any]) -> None:
        self.identity = identity
        self.dir = Path(root) / expert_tag(identity)
        self._next_seq: dict[tuple[str, int], int] = {}

    def write_identity(self) -> None:
        """Record what produced the answers (for people; the folder name already pins it)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{IDENTITY_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(self.identity, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.dir / IDENTITY_FILE)

    def files(self, dataset: str | None = None) -> list[Path]:
        """Complete store files (temporary files of an interrupted write are ignored), sorted."""
        pattern = f"{dataset}/part-*.parquet" if dataset else "*/part-*.parquet"
        return sorted(p for p in self.dir.glob(pattern) if _FILE.match(p.name))

    def append(self, rows: pl.DataFrame, dataset: str, rank: int) -> Path:
        """Write one batch of rows atomically as a new file of this rank."""
        folder = self.dir / dataset
        folder.mkdir(parents=True, exist_ok=True)
        key = (dataset, rank)
        if key not in self._next_seq:
            seqs = [int(m.group(2)) for p in folder.iterdir() if (m := _FILE.match(p.name)) and int(m.group(1)) == rank]
            self._next_seq[key] = max(seqs, default=-1) + 1
        seq = self._next_seq[key]
        self._next_seq[key] = seq + 1
        path = folder / f"part-{rank:03d}-{seq:06d}.parquet"
        tmp = folder / f".{path.name}.tmp"
        rows.select(list(SCHEMA)).cast(SCHEMA).write_parquet(tmp)
        os.replace(tmp, path)
        return path

    def done_ids(self) -> set[str]:
        """Image ids with an answer for every part: these are never grounded again."""
        files = self.files()
        if not files:
            return set()
        keys = pl.scan_parquet(files).select("image_id", "part").unique().collect()
        counts = keys.group_by("image_id").len()
        return set(counts.filter(pl.col("len") == len(PARTS))["image_id"].to_list())

    def read(self) -> pl.DataFrame:
        """The merged store: one row per image and part (first file wins), sorted."""
        files = self.files()
        if not files:
            return pl.DataFrame(schema=SCHEMA)
        frame = pl.concat([pl.read_parquet(p) for p in files], how="vertical")
        return sort_rows(frame.unique(subset=["image_id", "part"], keep="first", maintain_order=True))
