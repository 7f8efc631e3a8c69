"""Stable short hashes of plain data, for folder tags and versions."""

from __future__ import annotations

import hashlib
import json


def short_hash(payload: object, n: int = 10) -> str:
    """Stable short hash of a JSON-able payload (keys sorted), for tags and versions."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:n]
