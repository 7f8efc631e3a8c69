"""Manifest frames built by hand in the columns and types of `reid.data.manifest`, so a test spells
out only the values it asserts on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from reid.data.manifest import MANIFEST_SCHEMA


def manifest_rows(relpaths: Sequence[str], *, root: Path | str = "", key: str = "T", split: str = "train",
                  pids: Any = None, labels: Any = None, camids: Any = 0, width: int = 32, height: int = 64,
                  digest: str = "", synthetic: bool = True, **extra: Any) -> pl.DataFrame:
    """One row per image `root/relpath` of dataset `key` (image id `key/relpath`).

    A column's value is one per row or one for all; pids default to the row index, labels to the
    pids. `extra` adds columns the same way (the protocol's `domain`, `local_label`, ...).
    """
    n = len(relpaths)
    pids = range(n) if pids is None else pids
    columns = {
        "image_id": [f"{key}/{r}" for r in relpaths], "dataset": key, "split": split,
        "path": [str(Path(root) / r) for r in relpaths], "relpath": list(relpaths), "pid": pids,
        "label": pids if labels is None else labels, "camid": camids, "width": width, "height": height,
        "digest": digest, "synthetic": synthetic, **extra,
    }
    frame = pl.DataFrame({k: v if isinstance(v, Sequence) and not isinstance(v, str) else [v] * n
                          for k, v in columns.items()})
    return frame.cast(MANIFEST_SCHEMA)
