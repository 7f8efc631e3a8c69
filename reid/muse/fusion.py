"""MUSE's fusion of the judge's μ-distance into the evaluator's distances (PEERS.md §3.2 step 5).

MUSE fuses, at each target query's top-k gallery candidates, the Euclidean distance of
L2-normalised features with μ = p("No"): e′ = (1 − α)·e + α·2μ, both in [0, 2], written into the
(q, g) and (g, q) entries. `MuOverride` holds the judged pairs, `fused` is the rule, and its
`pairs` give the generic `PairOverride` that evaluation applies: `SimpleFused` ranks the fused
distances themselves (mode simple), `KReciprocal(..., override=...)` re-ranks on them (mode krnn).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from reid.evaluation.metrics import Features, Ids, _as_features, _distances
from reid.evaluation.rerank import PairOverride, pair_distances, pair_indices, require_split


def fused(d: torch.Tensor, mu: torch.Tensor, alpha: float) -> torch.Tensor:
    """d′ = ((1 − α)·√d + α·2μ)², float32, from the evaluator's d = 2 − 2·cos [P] and μ [P].

    Squared because the evaluator ranks d = e², not MUSE's Euclidean e: take the root, fuse as MUSE
    does, square back. Squaring is monotone on [0, ∞), so a ranking by d′ is MUSE's ranking by e′,
    and k-reciprocal sees the squared space it sees without μ. Computed in float64 and rounded once,
    so α = 0 returns d bit for bit.
    """
    return ((1 - alpha) * d.double().sqrt() + 2 * alpha * mu.double()).square().float()


@dataclass(frozen=True)
class MuOverride:
    """The judge's μ ∈ [0, 1] at judged (query, gallery) pairs and the fusion weight α, for one
    query × gallery split. Built by `of`, which checks it."""

    query: torch.Tensor  # [P] int64
    gallery: torch.Tensor  # [P] int64
    mu: torch.Tensor  # [P] float32
    alpha: float
    num_query: int
    num_gallery: int

    @staticmethod
    def of(
        query: Ids, gallery: Ids, mu: Features, alpha: float, num_query: int, num_gallery: int
    ) -> MuOverride:
        """From arrays or tensors; a ValueError names the first bad pair."""
        q, g = pair_indices(query, gallery, num_query, num_gallery)
        m = torch.as_tensor(mu).float()
        if m.shape != q.shape:
            raise ValueError(f"override: {len(q)} pairs but μ of shape {tuple(m.shape)}")
        bad = ~((m >= 0) & (m <= 1))  # also catches NaN
        if bad.any():
            p = int(bad.nonzero()[0])
            raise ValueError(f"override: μ must lie in [0, 1], got {m[p].item()} at pair "
                             f"(query {int(q[p])}, gallery {int(g[p])})")
        if not 0 <= alpha <= 1:
            raise ValueError(f"override: alpha must lie in [0, 1], got {alpha}")
        return MuOverride(q, g, m, float(alpha), num_query, num_gallery)

    def pairs(self, query_feats: Features, gallery_feats: Features) -> PairOverride:
        """The fused d′ at the judged pairs, from the features' own d there."""
        query, gallery = _as_features(query_feats, "query_feats"), _as_features(gallery_feats, "gallery_feats")
        require_split((self.num_query, self.num_gallery), len(query), len(gallery))
        device = query.device
        d = pair_distances(query, gallery, self.query.to(device), self.gallery.to(device))
        return PairOverride.of(self.query, self.gallery, fused(d, self.mu.to(device), self.alpha).cpu(),
                               self.num_query, self.num_gallery)


class SimpleFused:
    """MUSE's `simple` mode: `self(start, stop)` is the float32 [stop − start, G] block of plain
    distances of queries start..stop−1 with the override's values at its pairs, the callable
    `evaluate_distances` takes. Memory: the features, 16 bytes a pair, and the block."""

    def __init__(self, query_feats: Features, gallery_feats: Features, override: PairOverride):
        query, gallery = _as_features(query_feats, "query_feats"), _as_features(gallery_feats, "gallery_feats")
        if query.shape[1] != gallery.shape[1] or query.device != gallery.device:
            raise ValueError(f"query features {tuple(query.shape)} on {query.device} and gallery features "
                             f"{tuple(gallery.shape)} on {gallery.device} must share feature dimension and device")
        self.query, self.gallery = query, gallery
        require_split((override.num_query, override.num_gallery), len(self.query), len(self.gallery))
        self.rows = override.by_query(self.query.device)

    def __call__(self, start: int, stop: int) -> torch.Tensor:
        dist = _distances(self.query[start:stop], self.gallery)
        owner, col, val = self.rows.take(torch.arange(start, stop, device=dist.device))
        dist[owner, col] = val
        return dist
