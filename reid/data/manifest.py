"""The manifest format: one parquet file per dataset key (its columns), the quarantine list, and
the one reader every step uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from reid.data.layouts import LAYOUTS
from reid.errors import ArtifactError
from reid.utils.files import reason_of

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
    "digest": pl.Utf8,  # of the file's bytes (reid.utils.images.probe_image): a redrawn image changes the manifest
    "synthetic": pl.Boolean,
}
QUARANTINE_SCHEMA = {"dataset": pl.Utf8, "split": pl.Utf8, "path": pl.Utf8, "reason": pl.Utf8}
REQUIRED = ("path", "split", "pid", "camid", "synthetic")  # the columns a reader checks for


def write_manifests(manifests: Mapping[str, pl.DataFrame], quarantines: Sequence[pl.DataFrame], out_dir: Path) -> None:
    """Write `<key>.parquet` per dataset and one human-readable `quarantine.csv`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for key, manifest in manifests.items():
        manifest.write_parquet(out_dir / f"{key}.parquet")
    quarantine = pl.concat(quarantines) if quarantines else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    quarantine.write_csv(out_dir / "quarantine.csv")


def manifest_keys(manifest_dir: Path) -> list[str]:
    """Keys of the manifests in `manifest_dir`: benchmarks in their usual order, then custom ones."""
    present = {p.stem for p in Path(manifest_dir).glob("*.parquet")}
    return [k for k in LAYOUTS if k in present] + sorted(present - set(LAYOUTS))


def read_manifest(manifest_dir: Path, key: str) -> pl.DataFrame:
    """The manifest of `key`, or an `ArtifactError` (stage `ingest`) if it is missing, unreadable or lacks a column."""
    path = Path(manifest_dir) / f"{key}.parquet"
    if not path.is_file():
        present = sorted(p.stem for p in Path(manifest_dir).glob("*.parquet"))
        raise ArtifactError(path, "ingest", f"is missing (manifests there: {', '.join(present) or 'none'}; "
                                            f"is dataset {key} under data.root? is it in data.datasets?)")
    try:
        frame = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ArtifactError(path, "ingest", f"is unreadable ({reason_of(exc)})") from None
    absent = [c for c in REQUIRED if c not in frame.columns]
    if absent:
        raise ArtifactError(path, "ingest", f"is unreadable (no column {', '.join(absent)})")
    return frame
