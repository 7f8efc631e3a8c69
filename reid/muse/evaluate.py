"""MUSE at evaluation: each target's k-reciprocal ranking with MUSE's parameters, and the fused one with μ.

For every target query the encoder's top-k gallery candidates (the pairs the `mu` stage judged)
get d′ = fused(d, μ, α); `krnn` mode re-ranks k-reciprocally on the fused distances, `simple` ranks
them as they are. Beside it, k-reciprocal with the same parameters and no μ, so the record shows
what μ adds over re-ranking alone. Given a `judge`, pairs the store lacks are judged first (so
`reid evaluate --dataset` works on any ingested dataset); without one they are left unfused and
the record says how many had a μ (`coverage`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import torch

from reid.errors import ArtifactError
from reid.evaluation.rerank import KReciprocal
from reid.muse.config import Muse
from reid.muse.fusion import MuOverride, SimpleFused
from reid.muse.mu import candidate_pairs, coverage, fill_store, lookup, top_candidates
from reid.muse.store import MuStore, mu_identity
from reid.vlm.config import Vlm
from reid.vlm.load import VlmBundle


class MuseRankings:
    """`ExtraRankings` of `reid.evaluation.run`: name "muse", its `info` the judge and the fusion's settings."""

    name = "muse"

    def __init__(self, muse: Muse, vlm: Vlm, store: MuStore, judge: VlmBundle | None = None, workers: int = 0) -> None:
        self.muse, self.vlm, self.store, self.judge, self.workers = muse, vlm, store, judge, workers
        r = muse.rerank
        self.info = {"applied": True, "judge": store.identity["judge"], "mode": r.mode, "topk": muse.topk,
                     "alpha": muse.alpha, "tau": muse.tau, "swap": muse.swap,
                     "k1": r.k1, "k2": r.k2, "lambda_value": r.lambda_value}

    def __call__(self, target: str, q_feats: torch.Tensor, g_feats: torch.Tensor, query: pl.DataFrame,
                 gallery: pl.DataFrame) -> tuple[dict, dict]:
        muse = self.muse
        q_idx, g_idx = top_candidates(q_feats, g_feats, muse.topk)
        pairs = candidate_pairs(query, gallery, q_idx, g_idx)
        if self.judge is not None:
            fill_store(self.store, target, pairs, self.judge, self.vlm.image_size, muse.tau, muse.swap,
                       muse.batch_size, self.workers)
        mu = lookup(self.store.pairs(target), pairs)
        have = torch.from_numpy(np.isfinite(mu))
        override = MuOverride.of(q_idx[have], g_idx[have], torch.from_numpy(mu)[have], muse.alpha,
                                 len(q_feats), len(g_feats)).pairs(q_feats, g_feats)
        fused = (SimpleFused(q_feats, g_feats, override) if muse.rerank.mode == "simple"
                 else KReciprocal(q_feats, g_feats, muse.rerank, override=override))
        rankings = {"krnn": KReciprocal(q_feats, g_feats, muse.rerank), f"{muse.rerank.mode}_mu": fused}
        return rankings, {"pairs": len(mu), "coverage": round(coverage(mu), 4)}


def muse_store(store_root: str | os.PathLike, muse: Muse, vlm: Vlm, judge_digest: str) -> MuStore:
    """The μ store of this judge and these settings, refused in one line when the `mu` stage never filled it."""
    store = MuStore(store_root, mu_identity(judge_digest, muse.tau, muse.swap, vlm.image_size))
    if not store.dir.is_dir():
        raise ArtifactError(Path(store_root), "mu", f"holds no μ of judge {judge_digest} with these settings "
                                                    f"(tau {muse.tau}, swap {muse.swap}, image_size {list(vlm.image_size)})")
    return store


def judging_rankings(muse: Muse, vlm: Vlm, adapter_dir: str | os.PathLike, store_root: str | os.PathLike,
                     workers: int = 0) -> MuseRankings:
    """MUSE's rankings that judge the pairs the store lacks first (any dataset, not only the protocol's targets)."""
    from reid.muse.sft import load_judge

    judge = load_judge(vlm, adapter_dir)
    store = MuStore(store_root, mu_identity(judge.digest, muse.tau, muse.swap, vlm.image_size))
    store.write_identity()
    return MuseRankings(muse, vlm, store, judge, workers)
