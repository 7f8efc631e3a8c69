"""Protocols: which datasets train, which are tested, and the assembled training manifest.

`source` is one key (`MA`) or a `+`-joined multi-source set (`D+MS+C3`); `targets` is
"auto" (every dataset found that is not a source: the held-out one for leave-one-out) or
an explicit list (a target equal to the source gives the source-domain evaluation).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from reid.config.autos import AUTO, auto_targets
from reid.errors import ArtifactError, ConfigError


@dataclass(frozen=True)
class Protocol:
    sources: tuple[str, ...]
    targets: tuple[str, ...]

    @property
    def name(self) -> str:
        return "+".join(self.sources) + "->" + ",".join(self.targets)


def parse_sources(source: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in str(source).split("+") if k.strip())
    if not keys:
        raise ConfigError("protocol.source", source, "is empty", fix="give a dataset key such as MA or a set such as D+MS+C3")
    if len(set(keys)) != len(keys):
        raise ConfigError("protocol.source", source, "names a dataset twice")
    return keys


def resolve_protocol(source: str, targets: str | Sequence[str], available: Sequence[str]) -> Protocol:
    """Check `source`/`targets` against the datasets found and expand "auto"."""
    sources = parse_sources(source)
    missing = [k for k in sources if k not in available]
    if missing:
        raise ConfigError(
            "protocol.source", source, f"{', '.join(missing)} is not among the ingested datasets",
            allowed=available or ["none found"], fix="put the dataset under data.root (or data.custom) or change protocol.source",
        )
    if targets == AUTO or targets == [AUTO]:
        chosen = auto_targets(sources, available)
        if not chosen:
            raise ConfigError(
                "protocol.targets", "auto", f"leaves nothing to test: every dataset found ({', '.join(available)}) "
                f"is a source", fix="add a dataset or list targets explicitly (a source as target = source-domain test)",
            )
    else:
        chosen = tuple([targets] if isinstance(targets, str) else targets)
        unknown = [k for k in chosen if k not in available]
        if unknown:
            raise ConfigError("protocol.targets", list(chosen), f"{', '.join(unknown)} is not among the ingested datasets",
                              allowed=available)
    return Protocol(sources, chosen)


def assemble_training(manifests: dict[str, pl.DataFrame], sources: Sequence[str]) -> pl.DataFrame:
    """The union of the sources' train splits with label and camera offsets per domain.

    Offsets make domains never collide: domain d's labels start after those of domains
    0..d-1, and so do its cameras. Adds `domain` (index in `sources`) and keeps the
    dataset-local values as `local_label` / `local_camid`.
    """
    parts = []
    label_offset = cam_offset = 0
    for domain, key in enumerate(sources):
        train = manifests[key].filter(pl.col("split") == "train")
        if train.height == 0:
            raise ConfigError("protocol.source", "+".join(sources), f"dataset {key} has no training images",
                              fix="choose a source with a train split")
        parts.append(
            train.with_columns(
                pl.col("label").alias("local_label"),
                pl.col("camid").alias("local_camid"),
                (pl.col("label") + label_offset).alias("label"),
                (pl.col("camid") + cam_offset).alias("camid"),
                pl.lit(domain, dtype=pl.Int64).alias("domain"),
            )
        )
        label_offset += int(train["label"].max()) + 1
        cam_offset += int(train["camid"].max()) + 1
    return pl.concat(parts)


def protocol_record(protocol: Protocol, train: pl.DataFrame) -> dict:
    """What later stages need to know about the protocol, as JSON-ready data."""
    return {
        "sources": list(protocol.sources),
        "targets": list(protocol.targets),
        "name": protocol.name,
        "num_classes": int(train["label"].max()) + 1,
        "num_cams": int(train["camid"].max()) + 1,
        "train_images": train.height,
        "synthetic": bool(train["synthetic"].any()),
    }


def read_protocol(path: str | Path) -> dict:
    """protocol.json as `protocol_record` made it (written by the protocol stage)."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(path, "protocol")
    return json.loads(path.read_text())


def check_target_splits(manifests: dict[str, pl.DataFrame]) -> None:
    """Every target has query and gallery images: a target without them cannot be evaluated."""
    for key, manifest in manifests.items():
        splits = set(manifest["split"].unique().to_list())
        lacking = [s for s in ("query", "gallery") if s not in splits]
        if lacking:
            raise ConfigError("protocol.targets", key, f"dataset {key} has no {' and no '.join(lacking)} images",
                              fix="choose targets with a test split (query and gallery)")
