"""The ingest and protocol steps end to end, as called by both the CLI and the DVC stages."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from reid.data.ingest import MIN_HEIGHT, MIN_WIDTH, ingest_many
from reid.data.manifest import manifest_keys, read_manifest, write_manifests
from reid.data.protocol import (
    assemble_training,
    check_target_splits,
    protocol_record,
    resolve_protocol,
)
from reid.data.summary import print_summary, summarize, warn_mismatches
from reid.errors import ArtifactError
from reid.config.checks import check_custom_folders, check_identities
from reid.wiring import StageIO, StageParams


def run_ingest(
    root: Path,
    out_dir: Path,
    summary_path: Path,
    datasets: Sequence[str] | str = "auto",
    subset: str | None = None,
    custom: dict[str, str] | None = None,
    workers: int | None = None,
    min_height: int = MIN_HEIGHT,
    min_width: int = MIN_WIDTH,
) -> dict:
    """Ingest the datasets under `root`; write manifests, quarantine list and summary JSON.

    Images lower than `min_height` or narrower than `min_width` pixels are quarantined.
    """
    results = ingest_many(Path(root), datasets, subset, custom, workers, min_height, min_width)
    write_manifests({r.key: r.manifest for r in results}, [r.quarantine for r in results], Path(out_dir))
    summary = summarize(results)
    summary_path = Path(summary_path)
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    print_summary(summary)
    warn_mismatches(summary)
    return summary


def run_protocol(manifest_dir: Path, source: str, targets: str | Sequence[str], out_dir: Path) -> dict:
    """Resolve the protocol against the ingested datasets and write the training manifest."""
    manifest_dir = Path(manifest_dir)
    if not manifest_dir.is_dir():
        raise ArtifactError(manifest_dir, "ingest")
    available = manifest_keys(manifest_dir)
    protocol = resolve_protocol(source, targets, available)
    check_target_splits({key: read_manifest(manifest_dir, key) for key in protocol.targets})
    manifests = {key: read_manifest(manifest_dir, key) for key in protocol.sources}
    train = assemble_training(manifests, protocol.sources)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train.write_parquet(out_dir / "train.parquet")
    record = protocol_record(protocol, train)
    (out_dir / "protocol.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def ingest(params: StageParams, io: StageIO) -> None:
    """Stage `ingest`: the datasets of `data` into manifests (custom folders checked first)."""
    data = params.data
    check_custom_folders(data.custom, io.inputs["root"], io.inputs["custom"])
    out = io.outputs["manifests"]
    run_ingest(root=io.inputs["root"], out_dir=out, summary_path=out / "summary.json", datasets=data.datasets,
               subset=data.cuhk03_subset, custom=data.custom, workers=data.workers)


def protocol(params: StageParams, io: StageIO) -> None:
    """Stage `protocol`; it also holds `train.ids_per_batch` against the identities it assembles,
    the first stage that can see a batch too large for the source, before grounding and pre-training run."""
    section = params.protocol
    record = run_protocol(io.inputs["manifests"], section.source, section.targets, io.outputs["protocol"])
    check_identities(record["num_classes"], params.train.ids_per_batch)
    print(f"{record['name']}: {record['num_classes']} identities, {record['train_images']} training images")
