"""Stable short hashes of plain data, for folder tags and versions."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def short_hash(payload: object, n: int = 10) -> str:
    """Stable short hash of a JSON-able payload (keys sorted), for tags and versions."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def folder_digest(folder: str | os.PathLike, n: int = 12) -> str:
    """Digest of every file's relative name and bytes under `folder`: which model (weights and all) it is."""
    digest = hashlib.sha256()
    root = Path(folder)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:n]
