"""Ingestion: a dataset folder → a manifest (one row per usable image) + a quarantine list.

The manifest is what every later stage reads; `image_id` = dataset key + path relative to
the dataset root, so records never collide across datasets (file names do).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from reid.data.layouts import LAYOUTS, SPLITS, SplitCount
from reid.data.readers import (
    DatasetNotFoundError,
    RawRecord,
    ReadIssues,
    check_root,
    find_dataset_dir,
    get_layout,
    locate_dataset,
    read_records,
    select_variant,
    unknown_key_message,
)
from reid.utils.images import ImageError, probe_image
from reid.utils.progress import progress

SYNTHETIC_MARKER = "SYNTHETIC.json"
CUSTOM_COLUMNS = ("path", "pid", "camid", "split")

MANIFEST_SCHEMA = {
    "image_id": pl.Utf8,
    "dataset": pl.Utf8,
    "split": pl.Utf8,
    "path": pl.Utf8,
    "relpath": pl.Utf8,
    "pid": pl.Int64,
    "label": pl.Int64,
    "camid": pl.Int64,
    "width": pl.Int32,
    "height": pl.Int32,
    "synthetic": pl.Boolean,
}
QUARANTINE_SCHEMA = {"dataset": pl.Utf8, "split": pl.Utf8, "path": pl.Utf8, "reason": pl.Utf8}


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


def ingest_dataset(
    root: Path,
    key: str,
    subset: str | None = None,
    custom: dict[str, str] | None = None,
    workers: int | None = None,
) -> DatasetIngest:
    """Read, probe and relabel one dataset found under `root`.

    `key` is a benchmark key (MA, D, MS, C3) or a key of `custom` (key → folder holding a
    CSV/parquet listing `path, pid, camid, split`).
    """
    root = Path(root)
    custom = custom or {}
    if key in custom:
        return _ingest_custom(root, key, Path(custom[key]), workers)
    layout = get_layout(key)
    dataset_dir = locate_dataset(root, layout)
    variant = select_variant(dataset_dir, layout, subset)
    issues = ReadIssues()
    records = read_records(dataset_dir, layout, variant, issues)
    marker = _read_marker(dataset_dir)
    expected = _marker_counts(marker) if marker else layout.official[variant.name if layout.subsets else ""]
    return _build(key, layout.name, dataset_dir, variant.name, records, issues, marker is not None, expected, workers)


def available_datasets(root: Path, custom: dict[str, str] | None = None) -> list[str]:
    """Keys of the benchmarks found under `root`, then the custom ones, in a fixed order."""
    check_root(Path(root))
    found = [key for key, layout in LAYOUTS.items() if find_dataset_dir(Path(root), layout) is not None]
    return found + list(custom or {})


def validate_custom_keys(custom: dict[str, str]) -> None:
    for key in custom:
        if key in LAYOUTS or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key):
            raise ValueError(
                f"data.custom key '{key}' is not usable: it must start with a letter, contain only "
                f"letters, digits or '_', and differ from the benchmark keys {', '.join(LAYOUTS)}"
            )


def ingest_many(
    root: Path,
    keys: Sequence[str] | str = "auto",
    subset: str | None = None,
    custom: dict[str, str] | None = None,
    workers: int | None = None,
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
    return [ingest_dataset(root, key, subset, custom, workers) for key in keys]


def write_manifests(results: Sequence[DatasetIngest], out_dir: Path) -> None:
    """Write `<key>.parquet` per dataset and one human-readable `quarantine.csv`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for res in results:
        res.manifest.write_parquet(out_dir / f"{res.key}.parquet")
    quarantine = pl.concat([r.quarantine for r in results]) if results else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    quarantine.write_csv(out_dir / "quarantine.csv")


def manifest_keys(manifest_dir: Path) -> list[str]:
    """Keys of the manifests in `manifest_dir`: benchmarks in their usual order, then custom ones."""
    present = {p.stem for p in Path(manifest_dir).glob("*.parquet")}
    return [k for k in LAYOUTS if k in present] + sorted(present - set(LAYOUTS))


def read_manifest(manifest_dir: Path, key: str) -> pl.DataFrame:
    path = Path(manifest_dir) / f"{key}.parquet"
    if not path.is_file():
        present = sorted(p.stem for p in Path(manifest_dir).glob("*.parquet"))
        raise FileNotFoundError(
            f"no manifest for '{key}' in {manifest_dir} (have: {', '.join(present) or 'none'}); "
            f"is the dataset under data.root and listed in data.datasets?"
        )
    return pl.read_parquet(path)


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


def _ingest_custom(root: Path, key: str, folder: Path, workers: int | None) -> DatasetIngest:
    dataset_dir = folder if folder.is_absolute() else root / folder
    listing = _find_listing(dataset_dir, key)
    table = pl.read_csv(listing) if listing.suffix == ".csv" else pl.read_parquet(listing)
    missing = [c for c in CUSTOM_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"custom dataset '{key}': {listing} lacks column(s) {', '.join(missing)}; "
            f"it needs {', '.join(CUSTOM_COLUMNS)} (path relative to {dataset_dir}, split in {SPLITS}, camid 0-based)"
        )
    issues = ReadIssues()
    records = []
    for row_no, row in enumerate(table.select(CUSTOM_COLUMNS).iter_rows(), start=2):
        path, pid, camid, split = row
        where = f"{listing.name}:{row_no}"
        if split not in SPLITS or pid is None or camid is None or camid < 0:
            issues.add("malformed_list_line", f"{where}: {row!r}")
            continue
        if not (dataset_dir / str(path)).is_file():
            issues.add("listed_file_missing", f"{where}: {path}")
            continue
        records.append(RawRecord(split, Path(path).as_posix(), int(pid), int(camid) + 1))
    marker = _read_marker(dataset_dir)
    expected = _marker_counts(marker) if marker else None
    return _build(key, key, dataset_dir, "custom", records, issues, marker is not None, expected, workers)


def _find_listing(dataset_dir: Path, key: str) -> Path:
    if dataset_dir.is_file():
        return dataset_dir
    if not dataset_dir.is_dir():
        raise DatasetNotFoundError(f"custom dataset '{key}': folder {dataset_dir} does not exist (data.custom.{key})")
    listings = sorted(p for p in dataset_dir.iterdir() if p.suffix in (".csv", ".parquet"))
    if len(listings) != 1:
        raise ValueError(
            f"custom dataset '{key}': expected exactly one .csv or .parquet listing "
            f"({', '.join(CUSTOM_COLUMNS)}) in {dataset_dir}, found {[p.name for p in listings]}; "
            f"or point data.custom.{key} at the listing file itself"
        )
    return listings[0]


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
) -> DatasetIngest:
    junk = sum(r.pid == -1 for r in records)
    records = [r for r in records if r.pid != -1]
    abs_paths = [str((dataset_dir / r.relpath).absolute()) for r in records]
    probes = probe_many(abs_paths, workers, desc=f"probe {key}")
    rows, bad = [], []
    for rec, path, probe in zip(records, abs_paths, probes):
        if isinstance(probe, str):
            bad.append((key, rec.split, path, probe))
        else:
            rows.append((rec, path, probe))
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
            "synthetic": [synthetic] * len(rows),
        },
        schema=MANIFEST_SCHEMA,
    )
    quarantine = pl.DataFrame(bad, schema=QUARANTINE_SCHEMA, orient="row")
    return DatasetIngest(key, name, dataset_dir, layout, synthetic, manifest, quarantine, issues, junk, expected)


def probe_many(
    paths: Sequence[str], workers: int | None = None, desc: str = "probe", min_parallel: int = 2000
) -> list[tuple[int, int] | str]:
    """(width, height) or the failure reason for every path, in order, over `workers` processes.

    Below `min_parallel` paths a process pool costs more than it saves.
    """
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(paths) < min_parallel:
        return list(progress(map(_probe_one, paths), desc=desc, total=len(paths)))
    chunk = max(64, len(paths) // (workers * 16))
    # forkserver: forking a process whose torch/OpenMP threads are running can deadlock the child
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        return list(progress(pool.map(_probe_one, paths, chunksize=chunk), desc=desc, total=len(paths)))


def _probe_one(path: str) -> tuple[int, int] | str:
    try:
        info = probe_image(path)
    except ImageError as exc:
        return str(exc)
    return info.width, info.height
