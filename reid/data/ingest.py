"""Ingestion: a dataset folder → a manifest (one row per usable image) + a quarantine list.

The manifest is what every later stage reads; `image_id` = dataset key + path relative to
the dataset root, so records never collide across datasets (file names do). Custom listings
are parsed in `custom_listing`; the manifest's columns, writer and reader are in `manifest`.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from reid.data.custom_listing import find_listing, read_custom_records
from reid.data.layouts import LAYOUTS, SPLITS, SplitCount
from reid.data.manifest import MANIFEST_SCHEMA, QUARANTINE_SCHEMA
from reid.data.readers import (
    DatasetNotFoundError,
    RawRecord,
    ReadIssues,
    check_no_empty_dataset_dir,
    check_root,
    find_dataset_dir,
    get_layout,
    locate_dataset,
    one_line,
    read_records,
    select_variant,
    unknown_key_message,
)
from reid.errors import ConfigError, InputError
from reid.utils.images import ImageError, probe_image
from reid.utils.progress import progress

SYNTHETIC_MARKER = "SYNTHETIC.json"
# The smallest crop that can hold a person: the real benchmarks' smallest crops are about
# 40x20 (MSMT17), the synthetic benchmark never writes one under 32x16 (reid.synth.styles).
MIN_HEIGHT = 32
MIN_WIDTH = 16
TOO_SMALL = "too small to hold a person"

@dataclass
class DatasetIngest:
    """Everything ingestion learned about one dataset."""

    key: str
    name: str
    dataset_dir: Path
    layout: str  # the variant read (e.g. "v1-lists", "market", "detected", "custom")
    synthetic: bool
    manifest: pl.DataFrame
    quarantine: pl.DataFrame
    issues: ReadIssues = field(default_factory=ReadIssues)
    junk: int = 0
    expected: dict[str, SplitCount] | None = None  # official (or generator-declared) counts
    too_small: int = 0  # of the quarantined images, those under the minimum size


def ingest_dataset(
    root: Path,
    key: str,
    subset: str | None = None,
    custom: dict[str, str] | None = None,
    workers: int | None = None,
    min_height: int = MIN_HEIGHT,
    min_width: int = MIN_WIDTH,
) -> DatasetIngest:
    """Read, probe and relabel one dataset found under `root`.

    `key` is a benchmark key (MA, D, MS, C3) or a key of `custom` (key → folder holding a
    CSV/parquet listing `path, pid, camid, split`).  Images lower than `min_height` or
    narrower than `min_width` pixels are quarantined (0 keeps every size).
    """
    root = Path(root)
    custom = custom or {}
    _check_min_size(min_height, min_width)
    if key in custom:
        return _ingest_custom(key, Path(custom[key]), workers, (min_width, min_height))
    layout = get_layout(key)
    dataset_dir = locate_dataset(root, layout)
    variant = select_variant(dataset_dir, layout, subset)
    issues = ReadIssues()
    records = read_records(dataset_dir, layout, variant, issues)
    marker = _read_marker(dataset_dir)
    expected = _marker_counts(marker) if marker else layout.official[variant.name if layout.subsets else ""]
    hint = (
        f"expected {one_line(layout.describe())}. Fix: unpack {layout.name} into {dataset_dir} again, "
        f"or delete the folder and leave {layout.key} out of data.datasets"
    )
    return _build(
        key, layout.name, dataset_dir, variant.name, records, issues, marker is not None, expected, workers,
        (min_width, min_height), hint,
    )


def available_datasets(root: Path, custom: dict[str, str] | None = None) -> list[str]:
    """Keys of the benchmarks found under `root`, then the custom ones, in a fixed order."""
    check_root(Path(root))
    found = []
    for key, layout in LAYOUTS.items():
        if find_dataset_dir(Path(root), layout) is not None:
            found.append(key)
        else:
            check_no_empty_dataset_dir(Path(root), layout)
    return found + list(custom or {})


def validate_custom_keys(custom: dict[str, str]) -> None:
    for key in custom:
        if key in LAYOUTS or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key):
            raise ConfigError(
                f"data.custom.{key}", ..., "is not a usable dataset key",
                f"start it with a letter, use only letters, digits or '_', and differ from {', '.join(LAYOUTS)}",
            )


def ingest_many(
    root: Path,
    keys: Sequence[str] | str = "auto",
    subset: str | None = None,
    custom: dict[str, str] | None = None,
    workers: int | None = None,
    min_height: int = MIN_HEIGHT,
    min_width: int = MIN_WIDTH,
) -> list[DatasetIngest]:
    """Ingest `keys` ("auto" = every dataset found under `root`)."""
    custom = dict(custom or {})
    validate_custom_keys(custom)
    if keys == "auto":
        keys = available_datasets(root, custom)
        if not keys:
            check_root(Path(root))
            raise DatasetNotFoundError(
                f"no dataset found under {root}: expected folders such as "
                + ", ".join(layout.folder_names[0] for layout in LAYOUTS.values())
                + " (or data.custom entries); run `dvc repro synth` for the embedded demo data"
            )
    for key in keys:
        if key not in LAYOUTS and key not in custom:
            raise KeyError(unknown_key_message(key))
    return [ingest_dataset(root, key, subset, custom, workers, min_height, min_width) for key in keys]


def _read_marker(dataset_dir: Path) -> dict | None:
    path = dataset_dir / SYNTHETIC_MARKER
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def _marker_counts(marker: dict) -> dict[str, SplitCount] | None:
    counts = marker.get("counts")
    if not counts:
        return None
    return {split: SplitCount(**counts[split]) for split in SPLITS if split in counts}


def _check_min_size(min_height: int, min_width: int) -> None:
    for name, value in (("min_height", min_height), ("min_width", min_width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(name, value, "must be a whole number of pixels >= 0 (0 keeps every size)")


def _ingest_custom(key: str, folder: Path, workers: int | None, min_size: tuple[int, int]) -> DatasetIngest:
    listing = find_listing(folder, key)  # relative: to the working directory (the repository), as the check reads it
    dataset_dir = listing.parent  # paths in the listing are relative to the folder that holds it
    issues = ReadIssues()
    records = read_custom_records(listing, key, dataset_dir, issues)
    marker = _read_marker(dataset_dir)
    expected = _marker_counts(marker) if marker else None
    hint = (
        f"paths must be relative to {dataset_dir} (or absolute inside it), split one of {', '.join(SPLITS)}, "
        f"camid 0-based. Fix: correct {listing.name}, or point data.custom.{key} at the folder its paths "
        f"are relative to"
    )
    return _build(
        key, key, dataset_dir, "custom", records, issues, marker is not None, expected, workers, min_size, hint
    )


def _build(
    key: str,
    name: str,
    dataset_dir: Path,
    layout: str,
    records: list[RawRecord],
    issues: ReadIssues,
    synthetic: bool,
    expected: dict[str, SplitCount] | None,
    workers: int | None,
    min_size: tuple[int, int] = (MIN_WIDTH, MIN_HEIGHT),
    hint: str = "",
) -> DatasetIngest:
    read = len(records)
    junk = sum(r.pid == -1 for r in records)
    records = [r for r in records if r.pid != -1]
    # as data.root is given: relative to the repository when it is (DVC runs every stage there), so a
    # manifest restored from DVC's cache into another workspace (an experiment's) points at that one's images
    paths = [str(dataset_dir / r.relpath) for r in records]
    probes = probe_many(paths, workers, desc=f"probe {key}")
    min_w, min_h = min_size
    rows, bad = [], []
    too_small = 0
    for rec, path, probe in zip(records, paths, probes):
        if isinstance(probe, str):
            bad.append((key, rec.split, path, probe))
        elif probe[0] < min_w or probe[1] < min_h:
            too_small += 1
            reason = f"{TOO_SMALL}: {probe[0]}x{probe[1]} pixels (width x height), minimum {min_w}x{min_h}"
            bad.append((key, rec.split, path, reason))
        else:
            rows.append((rec, path, probe))
    if not rows:
        raise InputError(_nothing_usable(key, name, dataset_dir, read, junk, bad, issues, hint))
    train_pids = sorted({rec.pid for rec, _, _ in rows if rec.split == "train"})
    label_of = {pid: i for i, pid in enumerate(train_pids)}
    manifest = pl.DataFrame(
        {
            "image_id": [f"{key}/{rec.relpath}" for rec, _, _ in rows],
            "dataset": [key] * len(rows),
            "split": [rec.split for rec, _, _ in rows],
            "path": [path for _, path, _ in rows],
            "relpath": [rec.relpath for rec, _, _ in rows],
            "pid": [rec.pid for rec, _, _ in rows],
            "label": [label_of[rec.pid] if rec.split == "train" else -1 for rec, _, _ in rows],
            "camid": [rec.cam - 1 for rec, _, _ in rows],
            "width": [p[0] for _, _, p in rows],
            "height": [p[1] for _, _, p in rows],
            "digest": [p[2] for _, _, p in rows],
            "synthetic": [synthetic] * len(rows),
        },
        schema=MANIFEST_SCHEMA,
    )
    quarantine = pl.DataFrame(bad, schema=QUARANTINE_SCHEMA, orient="row")
    return DatasetIngest(
        key, name, dataset_dir, layout, synthetic, manifest, quarantine, issues, junk, expected, too_small
    )


def _nothing_usable(
    key: str, name: str, dataset_dir: Path, read: int, junk: int, bad: list[tuple], issues: ReadIssues, hint: str
) -> str:
    """The message of a dataset that leaves no usable image: what was found, where, and what was expected."""
    label = key if name == key else f"{name} ({key})"
    if read == 0 and not issues.counts:
        what = "holds no images"
    else:
        parts = [f"{read} image record(s) read"] if read else ["no image record read"]
        if junk:
            parts.append(f"{junk} junk (pid -1)")
        if bad:
            reasons = Counter(reason.split(":")[0] for *_, reason in bad)
            parts.append(f"{len(bad)} quarantined (" + ", ".join(f"{r}: {n}" for r, n in reasons.most_common()) + ")")
        for kind, n in sorted(issues.counts.items()):
            parts.append(f"{kind}={n} (e.g. {issues.examples[kind][0]})")
        what = "has no usable image: " + "; ".join(parts)
    return f"{label} at {dataset_dir} {what}; {hint}" if hint else f"{label} at {dataset_dir} {what}"


def probe_many(
    paths: Sequence[str], workers: int | None = None, desc: str = "probe", min_parallel: int = 2000
) -> list[tuple[int, int, str] | str]:
    """(width, height, digest) or the failure reason for every path, in order, over `workers` processes.

    Below `min_parallel` paths a process pool costs more than it saves.
    """
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(paths) < min_parallel:
        return list(progress(map(_probe_one, paths), desc=desc, total=len(paths)))
    chunk = max(64, len(paths) // (workers * 16))
    # forkserver: forking a process whose torch/OpenMP threads are running can deadlock the child
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        return list(progress(pool.map(_probe_one, paths, chunksize=chunk), desc=desc, total=len(paths)))


def _probe_one(path: str) -> tuple[int, int, str] | str:
    try:
        info = probe_image(path)
    except ImageError as exc:
        return str(exc)
    return info.width, info.height, info.digest
