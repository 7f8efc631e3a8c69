"""Append-only parquet store of expert answers, one folder per expert identity and dataset.

Layout: `<root>/<tag>/<DATASET>/part-<rank>-<seq>.parquet`, one file per flushed batch,
written under a temporary name and renamed atomically, so a killed run loses at most the
batch in flight and never leaves a half-written file. `<tag>` = expert name + a hash of
everything that can change an answer (version, prompts, parameters): a new expert or
prompt starts a new folder instead of mixing results. Ranks write disjoint file names, so
any number of processes (on a shared file system, any number of nodes) append at once.

Every row carries the `attempt` that produced it (rows of stores older than the column read
as attempt 1); an image whose answers were `error` is grounded again with the next attempt
number, and reading keeps, per image and part, the row of the latest attempt.

`compact()` merges a dataset folder's files into one `compact-<seq>.parquet`: it writes the
merged file atomically first and removes the merged files after, so a kill in between only
leaves duplicate rows of the same attempt, which reading drops. A file that cannot be read
(truncated, garbage) is moved into `<DATASET>/corrupt/` with a printed warning; its images
have no answer any more and are grounded again.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
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
    "attempt": pl.Int32,  # 1 = first grounding of the image, 2 = first retry after an `error`, ...
}
OPTIONAL = {"attempt": 1}  # columns older stores lack, and the value their rows read as
IDENTITY_FILE = "expert.json"
CORRUPT_DIR = "corrupt"
_FILE = re.compile(r"^part-(\d+)-(\d+)\.parquet$")
_COMPACT = re.compile(r"^compact-(\d+)\.parquet$")
_UNREADABLE = (Exception, pl.exceptions.PanicException)  # a panic in the parquet reader is a BaseException


def expert_tag(identity: dict[str, Any]) -> str:
    """Folder name of an expert: readable name + hash of its full identity."""
    return f"{identity['name']}-{short_hash(identity)}"


def sort_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Deterministic order: image_id, then head / upper / legs."""
    rank = {p: i for i, p in enumerate(PARTS)}
    return frame.sort([pl.col("image_id"), pl.col("part").replace_strict(rank, return_dtype=pl.Int8)])


def read_store_file(path: Path) -> pl.DataFrame:
    """One store file in the current schema; raises if it is unreadable or lacks a column."""
    frame = pl.read_parquet(path)
    missing = [c for c in SCHEMA if c not in frame.columns and c not in OPTIONAL]
    if missing:
        raise ValueError(f"columns {', '.join(missing)} are missing")
    frame = frame.with_columns(pl.lit(v).alias(c) for c, v in OPTIONAL.items() if c not in frame.columns)
    return frame.select(list(SCHEMA)).cast(SCHEMA)


def latest_answers(frames: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """One row per image and part: the highest attempt, the first one read among equals; sorted."""
    frames = list(frames)
    if not frames:
        return pl.DataFrame(schema=SCHEMA)
    frame = pl.concat(frames, how="vertical").with_row_index("_order")
    frame = frame.sort(["attempt", "_order"], descending=[True, False])
    return sort_rows(frame.unique(subset=["image_id", "part"], keep="first", maintain_order=True).drop("_order"))


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


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
        """Complete store files, batch and compacted (temporary and set-aside files are not), sorted."""
        pattern = f"{dataset}/*.parquet" if dataset else "*/*.parquet"
        return sorted(p for p in self.dir.glob(pattern) if _FILE.match(p.name) or _COMPACT.match(p.name))

    def datasets(self) -> list[str]:
        return sorted({p.parent.name for p in self.files()})

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
        self._write(rows, path)
        return path

    @staticmethod
    def _write(rows: pl.DataFrame, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        rows.select(list(SCHEMA)).cast(SCHEMA).write_parquet(tmp)
        os.replace(tmp, path)

    def set_aside(self, path: Path) -> Path | None:
        """Move an unreadable store file into its folder's `corrupt/`; None if it cannot be moved."""
        folder = path.parent / CORRUPT_DIR
        target, n = folder / path.name, 0
        while target.exists():
            n += 1
            target = folder / f"{path.name}.{n}"
        try:
            folder.mkdir(exist_ok=True)
            os.replace(path, target)
        except OSError:
            return None
        return target

    def _load(self, files: list[Path], set_aside: bool) -> tuple[list[pl.DataFrame], list[Path]]:
        """The readable files' rows and those files; unreadable ones are warned about (and set aside)."""
        frames, read = [], []
        for path in files:
            try:
                frames.append(read_store_file(path))
                read.append(path)
            except FileNotFoundError:
                continue  # removed meanwhile (set aside or compacted by rank 0)
            except _UNREADABLE as exc:
                problem = " ".join(str(exc).split())[:200]
                if not set_aside:
                    print(f"warning: grounding store file {path} is unreadable ({type(exc).__name__}: {problem}); "
                          f"skipped, its images are grounded again")
                    continue
                moved = self.set_aside(path)
                where = f"moved to {moved}" if moved else "could not be moved aside (left in place, skipped)"
                print(f"warning: grounding store file {path} is unreadable ({type(exc).__name__}: {problem}); "
                      f"{where}; its images are grounded again")
        return frames, read

    def read(self, set_aside_corrupt: bool = False) -> pl.DataFrame:
        """The merged store: one row per image and part (latest attempt wins), sorted.

        Unreadable files are skipped with a warning; with `set_aside_corrupt` (one process
        only: rank 0) they are also moved into `corrupt/`, so later reads no longer see them.
        """
        frames, _ = self._load(self.files(), set_aside_corrupt)
        return latest_answers(frames)

    def done_ids(self, max_attempts: int | None = None) -> set[str]:
        """Image ids never grounded again: an answer for every part and none `error`
        (or, given `max_attempts`, an `error` that has used every attempt)."""
        state = image_state(self.read())
        finished = pl.col("failed").not_()
        if max_attempts is not None:
            finished = finished | (pl.col("attempt") >= max_attempts)
        return set(state.filter((pl.col("parts") == len(PARTS)) & finished)["image_id"].to_list())

    def compact(self) -> int:
        """Merge each dataset folder's files into one; returns how many files were merged away.

        Call it from one process (rank 0) when no other one writes. The merged file holds the
        latest answer per image and part and is in place before any merged file is removed.
        """
        removed = 0
        for dataset in self.datasets():
            files = self.files(dataset)
            if len(files) <= 1:
                continue
            frames, read = self._load(files, set_aside=True)
            if len(read) <= 1:
                continue
            seqs = [int(m.group(1)) for p in files if (m := _COMPACT.match(p.name))]
            path = self.dir / dataset / f"compact-{max(seqs, default=-1) + 1:06d}.parquet"
            self._write(latest_answers(frames), path)
            for old in read:
                _remove(old)
            removed += len(read)
        return removed


def image_state(answers: pl.DataFrame) -> pl.DataFrame:
    """Per image of the merged store: parts answered, whether any is `error`, its latest attempt."""
    return answers.group_by("image_id").agg(
        pl.len().alias("parts"), (pl.col("status") == "error").any().alias("failed"), pl.col("attempt").max()
    )
