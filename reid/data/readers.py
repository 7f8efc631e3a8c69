"""The one generic reader: a dataset layout (data) + a folder → raw image records.

Records are not yet probed (sizes, readability); `reid.data.ingest` does that. Every
oddity met here (names off-pattern, list lines pointing at missing files, duplicates,
cameras out of range) is counted in `ReadIssues`, never raised mid-run.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from reid.data.layouts import LAYOUTS, SPLITS, DatasetLayout, Variant
from reid.errors import ConfigError, InputError, ReidError


class DatasetNotFoundError(ReidError, FileNotFoundError):
    """A dataset (or the data root) is not where the configuration says."""


@dataclass(frozen=True)
class RawRecord:
    split: str
    relpath: str  # posix path relative to the dataset root
    pid: int  # original identity (−1 junk, 0 Market distractor)
    cam: int  # camera as written on disk (1-based for the benchmarks)


@dataclass
class ReadIssues:
    """Counts (and a few examples) of problems met while reading, reported in the summary."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, where: str, keep: int = 5) -> None:
        self.counts[kind] += 1
        bucket = self.examples.setdefault(kind, [])
        if len(bucket) < keep:
            bucket.append(where)


def unknown_key_message(key: str) -> str:
    return f"unknown dataset key '{key}'; valid keys: {', '.join(LAYOUTS)} (or a key from data.custom)"


def get_layout(key: str) -> DatasetLayout:
    try:
        return LAYOUTS[key]
    except KeyError:
        raise KeyError(unknown_key_message(key)) from None


def _has_layout(path: Path, layout: DatasetLayout) -> bool:
    return path.is_dir() and any((path / v.marker).exists() for v in layout.variants)


def scan_dataset_dirs(root: Path, layout: DatasetLayout) -> tuple[list[Path], list[Path]]:
    """(folders holding one of the layout's variants, folders named like the dataset that hold none).

    Looks directly under `root` and one level below, in the order of `layout.folder_names`.
    One folder reached under two names (a symlink, a case-insensitive file system) counts
    once; an outer folder around a found nested one (``market1501/Market-1501-v15.09.15``)
    is not an empty one.
    """
    candidates = [root / name for name in layout.folder_names]
    candidates += [root / outer / inner for outer in layout.folder_names for inner in layout.folder_names]
    seen: set[tuple[int, int]] = set()
    found, other = [], []
    for path in candidates:
        try:
            st = path.stat()
        except OSError:
            continue
        if not path.is_dir() or (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        (found if _has_layout(path, layout) else other).append(path)
    empty = [p for p in other if not any(f.is_relative_to(p) for f in found)]
    return found, empty


def find_dataset_dir(root: Path, layout: DatasetLayout) -> Path | None:
    """The one folder under `root` (or one level below) holding the dataset, None if there is none.

    Raises InputError when two folders hold it: ingestion never guesses which copy is meant.
    """
    found, _ = scan_dataset_dirs(root, layout)
    if len(found) > 1:
        raise InputError(_ambiguous_message(root, layout, found))
    return found[0] if found else None


def check_no_empty_dataset_dir(root: Path, layout: DatasetLayout) -> None:
    """Raise InputError if a folder named like the dataset exists under `root` but holds none of its layouts."""
    found, empty = scan_dataset_dirs(root, layout)
    if empty and not found:
        raise InputError(_empty_dir_message(root, layout, empty[0]))


def locate_dataset(root: Path, layout: DatasetLayout) -> Path:
    """Like `find_dataset_dir` but raises an error that says where to put the data."""
    check_root(root)
    found = find_dataset_dir(root, layout)
    if found is None:
        check_no_empty_dataset_dir(root, layout)
        raise DatasetNotFoundError(
            f"{layout.name} ({layout.key}) not found under {root}.\n"
            f"Searched for folders named {', '.join(layout.folder_names)} (directly under the root "
            f"or one level below) containing one of these layouts:\n{layout.describe()}\n"
            f"Fix: unpack {layout.name} into {root}/{layout.folder_names[0]}/, or point data.root at the "
            f"folder that holds it, or drop {layout.key} from protocol.source/protocol.targets."
        )
    return found


def _folder_note(path: Path, layout: DatasetLayout) -> str:
    """Which variant a folder holds and how many files its training split has, to tell copies apart."""
    variant = next(v for v in layout.variants if (path / v.marker).exists())
    train = path / (variant.split_dirs.get("train") or variant.list_base.get("train", ""))
    try:
        n = sum(1 for e in os.scandir(train) if e.is_file())
    except OSError:
        return f"{path} ({variant.name})"
    return f"{path} ({variant.name}, {n} files in {train.name}/)"


def one_line(text: str) -> str:
    """A multi-line description on one line (error messages are printed as one line)."""
    return "; ".join(line.strip().lstrip("- ") for line in text.splitlines())


def _ambiguous_message(root: Path, layout: DatasetLayout, found: list[Path]) -> str:
    return (
        f"{layout.name} ({layout.key}): {len(found)} folders under {root} hold it: "
        + "; ".join(_folder_note(p, layout) for p in found)
        + ". Ingestion will not guess which copy is meant. "
        f"Fix: delete, or move out of {root}, every copy but the one to use (usually the smaller, "
        f"partial or older one), or point data.root at a folder that holds only one."
    )


def _empty_dir_message(root: Path, layout: DatasetLayout, path: Path) -> str:
    try:
        entries = sorted(e.name for e in os.scandir(path))
    except OSError:
        entries = []
    if entries:
        shown = ", ".join(entries[:8]) + (f", ... ({len(entries)} entries)" if len(entries) > 8 else "")
        what = f"holds none of its layouts (it contains: {shown})"
    else:
        what = "is empty"
    return (
        f"{layout.name} ({layout.key}): folder {path} {what}; expected one of these layouts in it: "
        f"{one_line(layout.describe())}. Fix: unpack {layout.name} into {path} (if the archive unpacked "
        f"into a sub-folder of another name, move its contents up), or delete the folder, or, if "
        f"{layout.key} is not wanted, list the wanted datasets in data.datasets."
    )


def check_root(root: Path) -> None:
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"data root {root} does not exist or is not a folder. Set data.root in params.yaml "
            f"(or --root) to the folder that holds the datasets "
            f"({', '.join(layout.folder_names[0] for layout in LAYOUTS.values())}), "
            f"or run `dvc repro synth` to generate the embedded demo data in data/demo."
        )


def select_variant(dataset_dir: Path, layout: DatasetLayout, subset: str | None) -> Variant:
    """The variant on disk; for layouts with subsets (CUHK03-NP) the one named `subset`."""
    if layout.subsets:
        subset = subset or layout.subsets[0]
        if subset not in layout.subsets:
            raise ConfigError("data.cuhk03_subset", subset, f"not a subset of {layout.name}", allowed=layout.subsets)
        variant = next(v for v in layout.variants if v.name == subset)
        if not (dataset_dir / variant.marker).exists():
            raise DatasetNotFoundError(f"{layout.name}: subset folder {dataset_dir / variant.marker} is missing")
        return variant
    return next(v for v in layout.variants if (dataset_dir / v.marker).exists())


def read_records(
    dataset_dir: Path, layout: DatasetLayout, variant: Variant, issues: ReadIssues
) -> list[RawRecord]:
    """All image records of the three splits, in a deterministic order."""
    pattern = re.compile(variant.pattern)
    records: list[RawRecord] = []
    for split in SPLITS:
        if variant.list_files:
            split_records = _read_list_split(dataset_dir, layout, variant, split, pattern, issues)
        else:
            split_records = _read_folder_split(dataset_dir, layout, variant.split_dirs[split], split, pattern, issues)
        records.extend(split_records)
    return _drop_duplicates(records, issues)


def _parse_name(
    name: str, pattern: re.Pattern, layout: DatasetLayout, where: str, issues: ReadIssues
) -> tuple[int, int] | None:
    """(pid, camera) from a file name, or None (counted) when it is off-pattern."""
    match = pattern.search(name)
    if match is None:
        issues.add("name_mismatch", where)
        return None
    pid = int(match.group(1))
    cam = int(match.group(2))
    if not 1 <= cam <= layout.num_cams:
        issues.add("camera_out_of_range", f"{where} (camera {cam}, expected 1..{layout.num_cams})")
        return None
    return pid, cam


def _read_folder_split(
    dataset_dir: Path, layout: DatasetLayout, folder: str, split: str, pattern: re.Pattern, issues: ReadIssues
) -> list[RawRecord]:
    split_dir = dataset_dir / folder
    if not split_dir.is_dir():
        issues.add("missing_split_folder", str(split_dir))
        return []
    records = []
    for entry in sorted(os.scandir(split_dir), key=lambda e: e.name):
        if not entry.is_file() or not entry.name.lower().endswith(layout.suffixes):
            continue
        relpath = f"{folder}/{entry.name}"
        parsed = _parse_name(entry.name, pattern, layout, relpath, issues)
        if parsed is not None:
            records.append(RawRecord(split, relpath, *parsed))
    return records


def _read_list_split(
    dataset_dir: Path, layout: DatasetLayout, variant: Variant, split: str, pattern: re.Pattern, issues: ReadIssues
) -> list[RawRecord]:
    base = variant.list_base[split]
    records = []
    for list_name in variant.list_files[split]:
        list_path = dataset_dir / list_name
        if not list_path.is_file():
            issues.add("missing_list_file", str(list_path))
            continue
        for lineno, line in enumerate(list_path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{list_name}:{lineno}"
            parts = line.split()
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                issues.add("malformed_list_line", f"{where}: {line[:80]!r}")
                continue
            relpath = f"{base}/{parts[0]}"
            if not (dataset_dir / relpath).is_file():
                issues.add("listed_file_missing", f"{where}: {relpath}")
                continue
            parsed = _parse_name(Path(parts[0]).name, pattern, layout, f"{where}: {relpath}", issues)
            if parsed is not None:
                records.append(RawRecord(split, relpath, int(parts[1]), parsed[1]))
    return records


def _drop_duplicates(records: list[RawRecord], issues: ReadIssues) -> list[RawRecord]:
    """Keep the first record of each path; a path listed twice (even across splits) is reported."""
    seen: set[str] = set()
    kept = []
    for rec in records:
        if rec.relpath in seen:
            issues.add("duplicate_entry", f"{rec.split}: {rec.relpath}")
            continue
        seen.add(rec.relpath)
        kept.append(rec)
    return kept
