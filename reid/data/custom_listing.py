"""Custom datasets (`data.custom`): a CSV or parquet listing `path, pid, camid, split` beside
its images, found, parsed and checked row by row into the records ingestion builds on."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

from reid.data.layouts import SPLITS
from reid.data.readers import DatasetNotFoundError, RawRecord, ReadIssues
from reid.errors import InputError

CUSTOM_COLUMNS = ("path", "pid", "camid", "split")
_INTEGER = re.compile(r"[+-]?\d+(?:\.0*)?")


def _as_int(value: object) -> int | None:
    """An integer from a listing cell (text, int or an integer-valued float), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(float(value)) if "." in value else int(value)
    return None


def _listing_rows(listing: Path, key: str) -> Iterator[tuple[str, str, dict[str, object]]]:
    """(full location, short location, {column: value}) per data row of a custom listing.

    CSV locations are `file:line` (the header is line 1); parquet ones `file:row N` (1-based).
    Raises InputError when the listing cannot be read, lacks a column or has a row whose
    number of fields differs from the header's.
    """
    def lacks(columns: Sequence[str]) -> None:
        missing = [c for c in CUSTOM_COLUMNS if c not in columns]
        if missing:
            raise InputError(
                f"custom dataset '{key}': {listing} lacks column(s) {', '.join(missing)} "
                f"(it has: {', '.join(columns) or 'none'}); it needs a header {','.join(CUSTOM_COLUMNS)} "
                f"(path relative to {listing.parent}, split in {', '.join(SPLITS)}, camid 0-based). "
                f"Fix: add the column(s) to the listing"
            )

    if listing.suffix == ".parquet":
        try:
            table = pl.read_parquet(listing)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise InputError(
                f"custom dataset '{key}': {listing} is not a readable parquet file ({exc.__class__.__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}). Fix: rewrite it, or use a CSV listing"
            ) from None
        lacks(table.columns)
        for i, row in enumerate(table.select(CUSTOM_COLUMNS).iter_rows(), start=1):
            yield f"{listing}:row {i}", f"{listing.name}:row {i}", dict(zip(CUSTOM_COLUMNS, row))
        return
    try:
        with open(listing, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            lacks(header)
            index = {c: header.index(c) for c in CUSTOM_COLUMNS}
            for fields in reader:
                line = reader.line_num
                if not any(f.strip() for f in fields):
                    continue  # blank line
                if len(fields) != len(header):
                    raise InputError(
                        f"custom dataset '{key}': {listing}:{line}: {len(fields)} fields where the header "
                        f"has {len(header)} ({','.join(header)}): {','.join(fields)[:80]!r}. Fix: one value per "
                        f"column on every line; quote a path that contains a comma"
                    )
                yield f"{listing}:{line}", f"{listing.name}:{line}", {c: fields[i].strip() for c, i in index.items()}
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(
            f"custom dataset '{key}': {listing} is not a readable UTF-8 CSV file ({exc}). "
            f"Fix: save it as UTF-8 CSV with a header {','.join(CUSTOM_COLUMNS)}"
        ) from None


def read_custom_records(listing: Path, key: str, dataset_dir: Path, issues: ReadIssues) -> list[RawRecord]:
    """The usable rows of a custom listing, every other row counted in `issues`.

    A listing that is not in the format (see `_listing_rows`; a pid or camid that is not an
    integer) is refused with InputError naming file and line; a well-formed row whose values
    cannot be used (unknown split, negative camid, empty path, a path outside the dataset
    folder, a missing file, a path listed before) is dropped and counted.
    """
    bad_numbers: list[str] = []  # the first two, for the message
    bad_count = 0
    records: list[RawRecord] = []
    first_line: dict[str, str] = {}
    folders = (Path(os.path.abspath(dataset_dir)), Path(os.path.realpath(dataset_dir)))
    rows = 0
    for where, short, row in _listing_rows(listing, key):
        rows += 1
        pid, camid = _as_int(row["pid"]), _as_int(row["camid"])
        for column, value, parsed in (("pid", row["pid"], pid), ("camid", row["camid"], camid)):
            if parsed is None:
                bad_count += 1
                if len(bad_numbers) < 2:
                    what = "is empty" if value in ("", None) else f"{value!r} is not an integer"
                    bad_numbers.append(f"{where}: {column} {what}")
        if bad_count:
            continue  # refused below; keep scanning to report how many values are affected
        path, split = row["path"], row["split"]
        path = "" if path is None else str(path)
        if not path.strip():
            issues.add("malformed_list_line", f"{short}: empty path")
            continue
        if split not in SPLITS:
            issues.add("unknown_split", f"{short}: split {split!r} (allowed: {', '.join(SPLITS)})")
            continue
        if camid < 0:
            issues.add("camera_out_of_range", f"{short}: camid {camid} (camid is 0-based: >= 0)")
            continue
        relpath = _inside(folders, path)
        if relpath is None:
            issues.add("path_outside_dataset", f"{short}: {path} is outside {dataset_dir}")
            continue
        if relpath in first_line:
            issues.add("duplicate_entry", f"{short}: {relpath} already listed at {first_line[relpath]}")
            continue
        if not (dataset_dir / relpath).is_file():
            issues.add("listed_file_missing", f"{short}: {path}")
            continue
        first_line[relpath] = short
        records.append(RawRecord(split, relpath, pid, camid + 1))
    if bad_numbers:
        more = ""
        if bad_count > 1:
            more = f" (and {bad_count - 1} more such value(s), e.g. {bad_numbers[1]})"
        raise InputError(
            f"custom dataset '{key}': {bad_numbers[0]}{more}; pid and camid must be integers "
            f"(pid -1 marks junk, camid is 0-based). Fix these lines of the listing (shifted columns? "
            f"a comma inside a path must be quoted)"
        )
    if rows == 0:
        raise InputError(
            f"custom dataset '{key}': listing {listing} has a header but no rows; expected one row per image "
            f"({','.join(CUSTOM_COLUMNS)}). Fix: list the images, or remove {key} from data.custom"
        )
    return records


def _inside(folders: tuple[Path, Path], path: str) -> str | None:
    """`path` (relative to the dataset folder, or absolute) as a posix path relative to it; None if it escapes.

    `folders` = the folder's absolute and resolved forms (an absolute path may use either).
    Lexical: `..` is resolved on the text; symlinks inside the folder may point anywhere.
    """
    raw = Path(path)
    full = Path(os.path.normpath(raw if raw.is_absolute() else folders[0] / raw))
    for folder in folders:
        if full != folder and full.is_relative_to(folder):
            return full.relative_to(folder).as_posix()
    return None


def find_listing(target: Path, key: str) -> Path:
    """The listing of custom dataset `key`: `target` itself, or the one .csv/.parquet file in folder `target`."""
    if target.is_file():
        return target
    if not target.is_dir():
        raise DatasetNotFoundError(f"custom dataset '{key}': folder {target} does not exist (data.custom.{key})")
    entries = sorted(p for p in target.iterdir() if not p.name.startswith("."))
    listings = [p for p in entries if p.suffix in (".csv", ".parquet") and p.is_file()]
    if not entries:
        raise InputError(
            f"custom dataset '{key}': folder {target} is empty; expected a .csv or .parquet listing "
            f"({','.join(CUSTOM_COLUMNS)}) next to the images it lists. Fix: put the listing and images there, "
            f"or point data.custom.{key} at the folder that holds them"
        )
    if not listings:
        shown = ", ".join(p.name for p in entries[:8]) + (", ..." if len(entries) > 8 else "")
        raise InputError(
            f"custom dataset '{key}': folder {target} holds no .csv or .parquet listing (it contains: {shown}); "
            f"expected one listing with the columns {','.join(CUSTOM_COLUMNS)}. Fix: add it, or point "
            f"data.custom.{key} at the listing file itself"
        )
    if len(listings) > 1:
        raise InputError(
            f"custom dataset '{key}': expected exactly one .csv or .parquet listing "
            f"({', '.join(CUSTOM_COLUMNS)}) in {target}, found {', '.join(p.name for p in listings)}. "
            f"Fix: remove the others, or point data.custom.{key} at the listing file itself"
        )
    return listings[0]
