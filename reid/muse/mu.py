"""MUSE's μ pass: every target query's top-k gallery candidates by encoder distance, judged by the VLM.

One forward pass of the fine-tuned VLM per (query, candidate) pair (two with `swap`): Q × k passes
per target, 116,590 on MSMT17 at k = 10. So the pass is a resumable, shardable store job like
grounding: pairs already stored are never asked again, each batch is appended as it is done
(a kill -9 loses at most the batch in flight), and under torchrun each rank takes every
world-th missing pair (every rank lists the missing pairs before any rank writes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import torch

from reid.muse.sft import mu_batches
from reid.muse.store import MuStore
from reid.vlm.inputs import ImageTuples
from reid.vlm.load import VlmBundle

QUERY_BLOCK = 1024  # queries per similarity block: nothing Q × G is held


def top_candidates(q_feats: torch.Tensor, g_feats: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(query index, gallery index) [Q·k] of each query's k nearest gallery items (L2-normalised features)."""
    k = min(k, len(g_feats))
    rows, cols = [], []
    for start in range(0, len(q_feats), QUERY_BLOCK):
        block = q_feats[start:start + QUERY_BLOCK].float() @ g_feats.float().T
        top = block.topk(k, dim=1).indices
        rows.append(torch.arange(start, start + len(block), device=top.device).repeat_interleave(k))
        cols.append(top.flatten())
    return torch.cat(rows).cpu(), torch.cat(cols).cpu()


def candidate_pairs(query: pl.DataFrame, gallery: pl.DataFrame, q_idx: torch.Tensor, g_idx: torch.Tensor) -> pl.DataFrame:
    """The candidate pairs as ids and paths (query_id, gallery_id, query_path, gallery_path)."""
    qi, gi = q_idx.numpy(), g_idx.numpy()
    return pl.DataFrame({
        "query_id": np.asarray(query["image_id"].to_list(), dtype=object)[qi].tolist(),
        "gallery_id": np.asarray(gallery["image_id"].to_list(), dtype=object)[gi].tolist(),
        "query_path": np.asarray(query["path"].to_list(), dtype=object)[qi].tolist(),
        "gallery_path": np.asarray(gallery["path"].to_list(), dtype=object)[gi].tolist(),
    })


def missing_pairs(store: MuStore, target: str, pairs: pl.DataFrame) -> pl.DataFrame:
    """The distinct pairs of `pairs` that `store` holds no μ of for `target`, in order."""
    stored = store.pairs(target).select("query_id", "gallery_id")
    return pairs.unique(["query_id", "gallery_id"], keep="first", maintain_order=True).join(
        stored, on=["query_id", "gallery_id"], how="anti", maintain_order="left")


def shard(pairs: pl.DataFrame, rank: int, world: int) -> pl.DataFrame:
    """Rank `rank`'s share: every world-th pair (all ranks list the same missing pairs first)."""
    return pairs.gather_every(world, offset=rank)


def judge_into(store: MuStore, target: str, pairs: pl.DataFrame, bundle: VlmBundle, image_size: tuple[int, int],
               tau: float, swap: bool, batch_size: int, workers: int, rank: int = 0) -> int:
    """Judge `pairs` and append each batch to `store` as rank `rank` as soon as it is done; how many were judged."""
    data = ImageTuples(list(zip(pairs["query_path"].to_list(), pairs["gallery_path"].to_list(), strict=True)), image_size)
    ids = pairs.select("query_id", "gallery_id")
    for index, mu, seconds in mu_batches(bundle, data, batch_size, workers, tau, swap, f"{target} mu ({pairs.height} pairs)"):
        store.append(ids[index.tolist()].with_columns(pl.Series("mu", mu, dtype=pl.Float32),
                                                      pl.lit(seconds / len(index)).alias("seconds"),
                                                      pl.lit(1).alias("attempt")), target, rank)
    return pairs.height


def fill_store(store: MuStore, target: str, pairs: pl.DataFrame, bundle: VlmBundle, image_size: tuple[int, int],
               tau: float, swap: bool, batch_size: int, workers: int) -> int:
    """One process: judge the pairs `store` lacks for `target`; how many were judged."""
    return judge_into(store, target, missing_pairs(store, target, pairs), bundle, image_size, tau, swap, batch_size,
                      workers)


def lookup(store_pairs: pl.DataFrame, pairs: pl.DataFrame) -> np.ndarray:
    """μ of each of `pairs` (in order) from the store's rows; NaN where none is stored."""
    joined = pairs.select("query_id", "gallery_id").with_row_index("_row").join(
        store_pairs, on=["query_id", "gallery_id"], how="left").sort("_row")
    return joined["mu"].fill_null(np.nan).to_numpy().astype(np.float32)


def coverage(mu: Sequence[float]) -> float:
    """Share of the candidate pairs that have a μ."""
    mu = np.asarray(mu)
    return float(np.isfinite(mu).mean()) if len(mu) else 1.0
