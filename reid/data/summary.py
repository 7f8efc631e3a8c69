"""The ingestion summary: ids / images / cameras per split, checked against the expected counts.

A partial download or a wrong folder shows up here as a loud warning that names the
dataset and the numbers, instead of as a mysteriously low mAP weeks later.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import polars as pl
from rich.console import Console
from rich.table import Table

from reid.data.ingest import DatasetIngest
from reid.data.layouts import SPLITS


class CountMismatchWarning(UserWarning):
    """A dataset's counts differ from the official (or generator-declared) ones."""


def split_counts(manifest: pl.DataFrame) -> dict[str, dict[str, int]]:
    """{split: {ids, images, cams}} with distractors (pid 0) counted as an id, as the official numbers do."""
    out = {}
    for split in SPLITS:
        part = manifest.filter(pl.col("split") == split)
        out[split] = {
            "ids": part["pid"].n_unique(),
            "images": part.height,
            "cams": part["camid"].n_unique(),
        }
    return out


def count_mismatches(res: DatasetIngest, counts: dict[str, dict[str, int]]) -> list[str]:
    """Human-readable differences between what was read and what was expected."""
    if res.expected is None:
        return []
    problems = []
    for split, want in res.expected.items():
        for what in ("ids", "images", "cams"):
            got, exp = counts[split][what], getattr(want, what)
            if got != exp:
                problems.append(f"{split} {what}: found {got}, expected {exp}")
    return problems


def summarize(results: Sequence[DatasetIngest]) -> dict:
    """The JSON summary written next to the manifests (and read by `dvc metrics show`)."""
    datasets = {}
    all_warnings = []
    for res in results:
        counts = split_counts(res.manifest)
        mismatches = count_mismatches(res, counts)
        if mismatches:
            source = "the generator's declared" if res.synthetic else "the official"
            all_warnings.append(
                f"{res.name} ({res.key}) at {res.dataset_dir}: counts differ from {source} ones: "
                + "; ".join(mismatches)
                + ". A partial download or the wrong folder? Check the dataset before trusting any result."
            )
        datasets[res.key] = {
            "name": res.name,
            "layout": res.layout,
            "synthetic": res.synthetic,
            "splits": counts,
            "expected": {s: vars(c) for s, c in res.expected.items()} if res.expected else None,
            "junk_dropped": res.junk,
            "quarantined": res.quarantine.height,
            "quarantined_too_small": res.too_small,
            "issues": dict(sorted(res.issues.counts.items())),
            "issue_examples": res.issues.examples,
            "mismatches": mismatches,
        }
    return {
        "synthetic": any(r.synthetic for r in results),
        "datasets": datasets,
        "warnings": all_warnings,
    }


def warn_mismatches(summary: dict) -> None:
    for message in summary["warnings"]:
        warnings.warn(message, CountMismatchWarning, stacklevel=2)


def print_summary(summary: dict, console: Console | None = None) -> None:
    """A table a person reads at a glance, then the warnings in red."""
    console = console or Console(stderr=True)
    table = Table(title="Ingested datasets" + (" (SYNTHETIC demo data)" if summary["synthetic"] else ""))
    for col in ("dataset", "layout", "split", "ids", "images", "cams", "expected", "junk", "quarantined", "issues"):
        table.add_column(col)
    for key, info in summary["datasets"].items():
        for i, split in enumerate(SPLITS):
            c = info["splits"][split]
            exp = info["expected"][split] if info["expected"] and split in info["expected"] else None
            expected = f"{exp['ids']}/{exp['images']}/{exp['cams']}" if exp else "-"
            first = i == 0
            table.add_row(
                key if first else "",
                info["layout"] if first else "",
                split,
                str(c["ids"]),
                str(c["images"]),
                str(c["cams"]),
                expected,
                str(info["junk_dropped"]) if first else "",
                str(info["quarantined"]) if first else "",
                ", ".join(f"{k}={v}" for k, v in info["issues"].items()) if first else "",
            )
    console.print(table)
    for message in summary["warnings"]:
        console.print(f"[bold red]WARNING[/bold red] {message}")
