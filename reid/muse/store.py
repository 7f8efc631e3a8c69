"""The μ store: MUSE's p("No") per target query–gallery pair, append-only, kill-safe and shardable.

An `AppendStore` (`reid.utils.append_store`) keyed by (query image, gallery image), one group per
target. Its identity is what changes a μ: the judge (base VLM and adapter digests), the prompt,
τ, the swap and the image size; not the encoder, which only picks which pairs are asked. So a
new method or a larger top-k asks only for the pairs not stored yet.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from reid.utils.append_store import AppendStore
from reid.utils.hashing import short_hash
from reid.vlm.prompts import pair_messages

SCHEMA: dict[str, pl.DataType] = {
    "query_id": pl.String,
    "gallery_id": pl.String,
    "mu": pl.Float32,
    "seconds": pl.Float64,  # judge time per pair (batch time / batch pairs)
    "attempt": pl.Int32,
}


def mu_identity(judge_digest: str, tau: float, swap: bool, image_size: tuple[int, int]) -> dict[str, Any]:
    return {"name": "mu", "judge": judge_digest, "prompt": short_hash(pair_messages(), 8), "tau": tau, "swap": swap,
            "image_size": list(image_size)}


class MuStore(AppendStore):
    """μ of one judge identity; groups are targets."""

    schema = SCHEMA
    keys = ("query_id", "gallery_id")
    what = "mu store"
    redo = "its pairs are scored again"

    def pairs(self, target: str) -> pl.DataFrame:
        """The stored (query_id, gallery_id, mu) of `target`."""
        return self.read(group=target).select("query_id", "gallery_id", "mu")
