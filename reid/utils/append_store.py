"""An append-only, kill-safe, shardable parquet store of per-item results of an expensive call.

Layout: `<root>/<tag>/<GROUP>/part-<rank>-<seq>.parquet`, one file per flushed batch, written
under a temporary name and renamed atomically, so a killed run loses at most the batch in
flight and never leaves a half-written file. `<tag>` = a readable name + a hash of everything
that can change a result (model, prompts, parameters): a new identity starts a new folder
instead of mixing results. Ranks write disjoint file names, so any number of processes (on a
shared file system, any number of nodes) append at once.

Every row carries the `attempt` that produced it; reading keeps, per key, the row of the latest
attempt (the first one read among equals), so a retried item replaces its failed row.
`compact()` merges a group's files into one `compact-<seq>.parquet`: it writes the merged file
atomically first and removes the merged files after, so a kill in between only leaves
duplicate rows, which reading drops. A file that cannot be read (truncated, garbage) is moved
into `<GROUP>/corrupt/` with a printed warning; its items have no result any more and are
computed again.

The grounding answers (`reid.grounding.store`) and MUSE's μ scores (`reid.muse.store`) are
two such stores, each with its schema and key.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from reid.utils.hashing import short_hash

IDENTITY_FILE = "identity.json"
CORRUPT_DIR = "corrupt"
_FILE = re.compile(r"^part-(\d+)-(\d+)\.parquet$")
_COMPACT = re.compile(r"^compact-(\d+)\.parquet$")
_UNREADABLE = (Exception, pl.exceptions.PanicException)  # a panic in the parquet reader is a BaseException


def _remove(path: Path) -> None:
    """Delete a merged file (a seam: tests kill a compaction between two removals)."""
    path.unlink(missing_ok=True)


def store_tag(identity: Mapping[str, Any]) -> str:
    """Folder name of an identity: readable name + hash of the whole identity."""
    return f"{identity['name']}-{short_hash(dict(identity))}"


class AppendStore:
    """The store of one identity under `root`. Subclasses give `schema` (which must hold an Int32 `attempt`),
    `keys` (one row per key is read), `optional` (columns older files lack → the value they read as),
    `what` (the store's name in warnings) and `redo` (what happens to a lost file's items)."""

    schema: Mapping[str, pl.DataType]
    keys: Sequence[str]
    optional: Mapping[str, Any] = {}
    what = "store"
    redo = "its items are computed again"
    identity_file = IDENTITY_FILE

    def __init__(self, root: str | os.PathLike, identity: Mapping[str, Any]) -> None:
        self.identity = dict(identity)
        self.dir = Path(root) / store_tag(identity)
        self._next_seq: dict[tuple[str, int], int] = {}

    def sort(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The order rows are read in (by key, unless a subclass orders otherwise)."""
        return frame.sort(list(self.keys))

    def write_identity(self) -> None:
        """Record what produced the results (for people; the folder name already pins it)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{self.identity_file}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(self.identity, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.dir / self.identity_file)

    def files(self, group: str | None = None) -> list[Path]:
        """Complete store files, batch and compacted (temporary and set-aside files are not), sorted."""
        pattern = f"{group}/*.parquet" if group else "*/*.parquet"
        return sorted(p for p in self.dir.glob(pattern) if _FILE.match(p.name) or _COMPACT.match(p.name))

    def groups(self) -> list[str]:
        return sorted({p.parent.name for p in self.files()})

    def append(self, rows: pl.DataFrame, group: str, rank: int) -> Path:
        """Write one batch of rows atomically as a new file of this rank."""
        folder = self.dir / group
        folder.mkdir(parents=True, exist_ok=True)
        key = (group, rank)
        if key not in self._next_seq:
            seqs = [int(m.group(2)) for p in folder.iterdir() if (m := _FILE.match(p.name)) and int(m.group(1)) == rank]
            self._next_seq[key] = max(seqs, default=-1) + 1
        seq = self._next_seq[key]
        self._next_seq[key] = seq + 1
        path = folder / f"part-{rank:03d}-{seq:06d}.parquet"
        self._write(rows, path)
        return path

    def _write(self, rows: pl.DataFrame, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        rows.select(list(self.schema)).cast(dict(self.schema)).write_parquet(tmp)
        os.replace(tmp, path)

    def read_file(self, path: Path) -> pl.DataFrame:
        """One store file in the current schema; raises if it is unreadable or lacks a column."""
        frame = pl.read_parquet(path)
        missing = [c for c in self.schema if c not in frame.columns and c not in self.optional]
        if missing:
            raise ValueError(f"columns {', '.join(missing)} are missing")
        frame = frame.with_columns(pl.lit(v).alias(c) for c, v in self.optional.items() if c not in frame.columns)
        return frame.select(list(self.schema)).cast(dict(self.schema))

    def latest(self, frames: Iterable[pl.DataFrame]) -> pl.DataFrame:
        """One row per key: the highest attempt, the first one read among equals; sorted."""
        frames = list(frames)
        if not frames:
            return pl.DataFrame(schema=dict(self.schema))
        frame = pl.concat(frames, how="vertical").with_row_index("_order")
        frame = frame.sort(["attempt", "_order"], descending=[True, False])
        return self.sort(frame.unique(subset=list(self.keys), keep="first", maintain_order=True).drop("_order"))

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
                frames.append(self.read_file(path))
                read.append(path)
            except FileNotFoundError:
                continue  # removed meanwhile (set aside or compacted by rank 0)
            except _UNREADABLE as exc:
                problem = " ".join(str(exc).split())[:200]
                head = f"warning: {self.what} file {path} is unreadable ({type(exc).__name__}: {problem})"
                if not set_aside:
                    print(f"{head}; skipped, {self.redo}")
                    continue
                moved = self.set_aside(path)
                where = f"moved to {moved}" if moved else "could not be moved aside (left in place, skipped)"
                print(f"{head}; {where}; {self.redo}")
        return frames, read

    def read(self, set_aside_corrupt: bool = False, group: str | None = None) -> pl.DataFrame:
        """The merged store (of one `group`, or all): one row per key (latest attempt wins), sorted.

        Unreadable files are skipped with a warning; with `set_aside_corrupt` (one process
        only: rank 0) they are also moved into `corrupt/`, so later reads no longer see them.
        """
        frames, _ = self._load(self.files(group), set_aside_corrupt)
        return self.latest(frames)

    def compact(self) -> int:
        """Merge each group's files into one; returns how many files were merged away.

        Call it from one process (rank 0) when no other one writes. The merged file holds the
        latest row per key and is in place before any merged file is removed.
        """
        removed = 0
        for group in self.groups():
            files = self.files(group)
            if len(files) <= 1:
                continue
            frames, read = self._load(files, set_aside=True)
            if len(read) <= 1:
                continue
            seqs = [int(m.group(1)) for p in files if (m := _COMPACT.match(p.name))]
            path = self.dir / group / f"compact-{max(seqs, default=-1) + 1:06d}.parquet"
            self._write(self.latest(frames), path)
            for old in read:
                _remove(old)
            removed += len(read)
        return removed
