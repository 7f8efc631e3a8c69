"""The mask store: one parquet row per training image, its P×Npatch bits packed.

128 patches × 3 parts = 384 bits = 48 bytes per image. The packed column is a
fixed-size binary, so reading MSMT17's 32k masks is one buffer view + `unpackbits`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from reid.errors import ArtifactError
from reid.utils.files import reason_of

META_KEY = b"reid.masks"
STAGE = "calibrate"  # the stage that writes the store


def write_masks(path: Path, image_ids: list[str], masks: np.ndarray, meta: dict) -> None:
    """Write bool masks [N, P, Npatch] under `image_ids`; `meta` (grid, parts) goes in the schema."""
    masks = np.asarray(masks, dtype=bool)
    n, p, npatch = masks.shape
    packed = np.packbits(masks.reshape(n, p * npatch), axis=1)
    width = packed.shape[1]
    column = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(packed.tobytes())])
    meta = {**meta, "parts_count": p, "num_patches": npatch}
    table = pa.table({"image_id": pa.array(image_ids, pa.string()), "mask": column})
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def read_masks(path: Path) -> tuple[list[str], torch.Tensor, dict]:
    """(image_ids, bool tensor [N, P, Npatch], meta) from a store written by `write_masks`.

    A missing or unreadable store (truncated, garbage, not a mask store) is an `ArtifactError`
    saying to re-run `calibrate`.
    """
    if not Path(path).is_file():
        raise ArtifactError(path, STAGE)
    try:
        table = pq.read_table(path)
        if table.schema.metadata is None or META_KEY not in table.schema.metadata:
            raise ValueError("no mask metadata: not a mask store")
        meta = json.loads(table.schema.metadata[META_KEY])
        column = table.column("mask").combine_chunks()
        n = len(column)
        width = column.type.byte_width
        packed = np.frombuffer(column.buffers()[1], dtype=np.uint8, count=n * width, offset=column.offset * width)
        bits = np.unpackbits(packed.reshape(n, width), axis=1, count=meta["parts_count"] * meta["num_patches"])
        masks = torch.from_numpy(bits.reshape(n, meta["parts_count"], meta["num_patches"]).astype(bool))
        image_ids = table.column("image_id").to_pylist()
    except Exception as exc:
        raise ArtifactError(path, STAGE, f"is unreadable ({reason_of(exc)})") from exc
    return image_ids, masks, meta
