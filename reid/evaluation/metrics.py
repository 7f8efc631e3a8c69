"""Market-1501 evaluation protocol: mAP and CMC from query and gallery features.

Protocol (SPEC §2): the distance is the squared Euclidean distance between L2-normalised
features, 2 − 2·cos. For each query, gallery items with the same pid *and* the same camera
are removed, and so are junk items (pid −1, normally dropped at ingest); pid 0 distractors
stay as negatives. Queries left without a true match are skipped and counted.
CMC(k) = fraction of valid queries with a true match in the top k; AP = mean precision at
the true matches' positions; mAP = mean AP over valid queries. INP = (number of true matches)
/ (1-based rank of the last one), mINP = mean INP over valid queries (Ye et al., TPAMI 2021,
as torchreid and fast-reid compute it): how far down the list the hardest match sits.

Ties in distance are broken by gallery index (what a stable sort does), so every ranking is
deterministic, and AP and mAP are summed with `math.fsum` (correctly rounded, independent
of order): `evaluate_features` and the full-sort `evaluate_reference` therefore agree bit
for bit on the same distances. `evaluate_distances` ranks any distances handed over one
query chunk at a time (the re-ranked ones of `rerank.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from reid.utils.progress import progress

JUNK_PID = -1
NORM_TOLERANCE = 1e-3
DEFAULT_CHUNK_SIZE = 128

Features = torch.Tensor | np.ndarray
Ids = torch.Tensor | np.ndarray | Sequence[int]
DistanceChunks = Callable[[int, int], torch.Tensor]  # (start, stop) -> [stop - start, Ng] float32 distances


@dataclass(frozen=True, eq=False)
class ReIDMetrics:
    """Ranking metrics (fractions in [0, 1]) plus the per-query results they summarise.

    The per-query arrays let a caller list failures (queries with ``first_hit > 0``) and
    compare two evaluators exactly.
    """

    mAP: float
    mINP: float
    cmc: np.ndarray  # [max_rank] float64; cmc[k-1] = fraction of valid queries matched within the top k
    num_valid: int
    num_skipped: int
    ap: np.ndarray  # [Nq] float64 average precision per query; NaN where skipped
    first_hit: np.ndarray  # [Nq] int64 0-based rank of the first true match; -1 where skipped
    inp: np.ndarray  # [Nq] float64 inverse negative penalty per query; NaN where skipped

    def rank(self, k: int) -> float:
        """CMC at rank k (Rank-1 = ``rank(1)``)."""
        if not 1 <= k <= len(self.cmc):
            raise ValueError(f"rank-{k} needs max_rank >= {k}; this evaluation kept {len(self.cmc)} CMC ranks")
        return float(self.cmc[k - 1])

    @property
    def rank1(self) -> float:
        return self.rank(1)

    @property
    def rank5(self) -> float:
        return self.rank(5)

    @property
    def rank10(self) -> float:
        return self.rank(10)

    def summary(self) -> dict[str, float | int]:
        """What a metrics file records: mAP, Rank-1/5/10 (those within max_rank), mINP, query counts."""
        out: dict[str, float | int] = {"mAP": self.mAP}
        out.update({f"rank{k}": self.rank(k) for k in (1, 5, 10) if k <= len(self.cmc)})
        out["mINP"] = self.mINP
        out.update(num_valid=self.num_valid, num_skipped=self.num_skipped)
        return out


def evaluate_features(
    query_feats: Features,
    gallery_feats: Features,
    query_pids: Ids,
    gallery_pids: Ids,
    query_cams: Ids,
    gallery_cams: Ids,
    max_rank: int = 50,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> ReIDMetrics:
    """Market-1501 mAP, mINP and CMC (up to `max_rank`) without ever holding the full distance matrix.

    query_feats [Nq, D] and gallery_feats [Ng, D] are L2-normalised rows (tensors or arrays);
    computation runs in float32 on the features' device (CUDA when they live there).
    Queries are processed `chunk_size` at a time; memory beyond the features is about
    20 bytes × chunk_size × Ng (210 MB for MSMT17's 82,161-image gallery at the default).
    """
    query, gallery = _as_features(query_feats, "query_feats"), _as_features(gallery_feats, "gallery_feats")
    if query.shape[1] != gallery.shape[1] or query.device != gallery.device:
        raise ValueError(
            f"query features {tuple(query.shape)} on {query.device} and gallery features "
            f"{tuple(gallery.shape)} on {gallery.device} must share feature dimension and device"
        )
    return evaluate_distances(
        lambda start, stop: _distances(query[start:stop], gallery), len(query), len(gallery),
        query_pids, gallery_pids, query_cams, gallery_cams, max_rank, chunk_size, gallery.device,
    )


def evaluate_distances(
    distances: DistanceChunks,
    num_query: int,
    num_gallery: int,
    query_pids: Ids,
    gallery_pids: Ids,
    query_cams: Ids,
    gallery_cams: Ids,
    max_rank: int = 50,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    device: torch.device | str = "cpu",
) -> ReIDMetrics:
    """The metrics of `evaluate_features` from distances produced one query chunk at a time.

    `distances(start, stop)` returns the [stop − start, Ng] non-negative float32 distances of
    queries start..stop−1 on `device` (it may be overwritten). No sort of the gallery is
    needed: a true match's rank is the number of remaining gallery items that come before it,
    counted per chunk with one `searchsorted` of every item against the query's few true
    matches; the last match's rank gives INP.
    """
    if max_rank < 1 or chunk_size < 1:
        raise ValueError(f"max_rank and chunk_size must be >= 1, got {max_rank} and {chunk_size}")
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:  # "cuda" names the current device, as tensors report it
        device = torch.device("cuda", torch.cuda.current_device())
    q_pids, q_cams = _as_ids(query_pids, num_query, "query_pids"), _as_ids(query_cams, num_query, "query_cams")
    g_pids, g_cams = _as_ids(gallery_pids, num_gallery, "gallery_pids"), _as_ids(
        gallery_cams, num_gallery, "gallery_cams"
    )
    match_q, match_g, removed_q, removed_g = _protocol_pairs(q_pids, g_pids, q_cams, g_cams)
    num_matches = np.bincount(match_q, minlength=num_query)
    match_slot = np.arange(len(match_q)) - (np.cumsum(num_matches) - num_matches)[match_q]
    junk_cols = torch.from_numpy(np.flatnonzero(g_pids == JUNK_PID)).to(device)

    ap = np.full(num_query, np.nan)
    inp = np.full(num_query, np.nan)
    first_hit = np.full(num_query, -1, dtype=np.int64)
    starts = range(0, num_query, chunk_size)
    for start in progress(starts, desc=f"ranking {num_query} queries", total=len(starts), unit="chunk"):
        stop = min(start + chunk_size, num_query)
        dist = distances(start, stop)
        if dist.shape != (stop - start, num_gallery) or dist.dtype != torch.float32 or dist.device != device:
            raise ValueError(f"distances({start}, {stop}) gave a {dist.dtype} {tuple(dist.shape)} tensor on "
                             f"{dist.device}; expected float32 ({stop - start}, {num_gallery}) on {device}")
        dist.index_fill_(1, junk_cols, math.inf)
        lo, hi = np.searchsorted(removed_q, [start, stop])
        dist[_on(removed_q[lo:hi] - start, device), _on(removed_g[lo:hi], device)] = math.inf
        lo, hi = np.searchsorted(match_q, [start, stop])
        counts = num_matches[start:stop]  # [c]
        ranks = _match_ranks(
            dist,
            _on(match_q[lo:hi] - start, device),
            _on(match_slot[lo:hi], device),
            _on(match_g[lo:hi], device),
            width=max(1, int(counts.max())),
        ).cpu().numpy()  # [c, width]
        slots = np.arange(1, ranks.shape[1] + 1)
        precision = np.where(slots <= counts[:, None], slots / (ranks + 1), 0.0)  # [c, width]
        for row, (m, terms) in enumerate(zip(counts.tolist(), precision.tolist())):
            if m:
                ap[start + row] = math.fsum(terms) / m
                inp[start + row] = m / (ranks[row, m - 1] + 1)
                first_hit[start + row] = ranks[row, 0]
    return _summarise(ap, inp, first_hit, max_rank)


def pairwise_distances(
    query_feats: Features, gallery_feats: Features, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> np.ndarray:
    """The full [Nq, Ng] float32 distance matrix that `evaluate_features` ranks by.

    Built chunk by chunk exactly as `evaluate_features` does: BLAS rounding depends on how
    many rows a product has, so equal `chunk_size` gives bit-identical distances. Holds
    Nq × Ng × 4 bytes: meant for the reference evaluator and small sets.
    """
    query, gallery = _as_features(query_feats, "query_feats"), _as_features(gallery_feats, "gallery_feats")
    out = np.empty((len(query), len(gallery)), dtype=np.float32)
    for start in range(0, len(query), chunk_size):
        out[start : start + chunk_size] = _distances(query[start : start + chunk_size], gallery).cpu().numpy()
    return out


def evaluate_reference(
    distmat: np.ndarray,
    query_pids: Ids,
    gallery_pids: Ids,
    query_cams: Ids,
    gallery_cams: Ids,
    max_rank: int = 50,
) -> ReIDMetrics:
    """Ground truth for tests and benchmarks, not for production: torchreid's `eval_market1501`
    (mINP included).

    A full argsort of distmat [Nq, Ng] and a per-query loop: 12 bytes per query × gallery
    pair (11.5 GB at MSMT17 scale). The stable sort breaks ties by gallery index, the rule
    `evaluate_features` follows.
    """
    num_query, num_gallery = distmat.shape
    q_pids, q_cams = _as_ids(query_pids, num_query, "query_pids"), _as_ids(query_cams, num_query, "query_cams")
    g_pids, g_cams = _as_ids(gallery_pids, num_gallery, "gallery_pids"), _as_ids(
        gallery_cams, num_gallery, "gallery_cams"
    )
    indices = np.argsort(distmat, axis=1, kind="stable")  # [Nq, Ng]
    ap = np.full(num_query, np.nan)
    inp = np.full(num_query, np.nan)
    first_hit = np.full(num_query, -1, dtype=np.int64)
    for q in range(num_query):
        pids, cams = g_pids[indices[q]], g_cams[indices[q]]
        remove = ((pids == q_pids[q]) & (cams == q_cams[q])) | (pids == JUNK_PID)
        hits = np.flatnonzero(pids[~remove] == q_pids[q])  # 0-based positions of the true matches
        if hits.size:
            ap[q] = math.fsum((np.arange(1, hits.size + 1) / (hits + 1)).tolist()) / hits.size
            inp[q] = hits.size / (hits[-1] + 1)
            first_hit[q] = hits[0]
    return _summarise(ap, inp, first_hit, max_rank)


def _distances(query: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    """[c, Ng] float32 squared Euclidean distances 2 − 2·cos, clamped at 0 (rounding dips below)."""
    return (query @ gallery.T).mul_(-2).add_(2).clamp_min_(0)


def _match_ranks(
    dist: torch.Tensor, rows: torch.Tensor, slots: torch.Tensor, cols: torch.Tensor, width: int
) -> torch.Tensor:
    """0-based rank of each true match among its query's remaining gallery items.

    dist [c, Ng] has removed items set to +inf; true match p sits at dist[rows[p], cols[p]]
    and takes column slots[p] < width of its row. Returns [c, width] int64, each row's ranks
    ascending; columns past a row's match count hold garbage.
    """
    c, num_gallery = dist.shape
    # Non-negative float32 bit patterns order like their values; the gallery index in the
    # low bits breaks ties, so a row's keys are distinct and a rank is a count of smaller keys.
    shift = max(1, (num_gallery - 1).bit_length())
    keys = dist.view(torch.int32).to(torch.int64).bitwise_left_shift_(shift)
    keys.bitwise_or_(torch.arange(num_gallery, device=dist.device))  # [c, Ng]
    match_keys = torch.full((c, width), torch.iinfo(torch.int64).max, dtype=torch.int64, device=dist.device)
    match_keys[rows, slots] = keys[rows, cols]
    match_keys = match_keys.sort(dim=1).values  # [c, width]
    # bucket b: the item is smaller than match keys b, b+1, ... and so counts toward their ranks.
    bucket = torch.searchsorted(match_keys, keys, right=True)  # [c, Ng]
    ones = torch.ones(1, dtype=torch.int64, device=dist.device).expand(c, num_gallery)
    per_bucket = torch.zeros(c, width + 1, dtype=torch.int64, device=dist.device).scatter_add_(1, bucket, ones)
    return per_bucket[:, :width].cumsum(1)


def _protocol_pairs(
    q_pids: np.ndarray, g_pids: np.ndarray, q_cams: np.ndarray, g_cams: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(query, gallery) index pairs sharing a pid, split into true matches and removed items.

    Returns match_q, match_g, removed_q, removed_g [P]; each sorted by query index.
    Same pid and same camera is removed; a junk query's junk "matches" are left out
    (junk gallery columns are removed for every query separately).
    """
    order = np.argsort(g_pids, kind="stable")
    start = np.searchsorted(g_pids[order], q_pids, side="left")
    count = np.searchsorted(g_pids[order], q_pids, side="right") - start
    pair_q = np.repeat(np.arange(len(q_pids)), count)
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    pair_g = order[np.repeat(start, count) + offset]
    same_cam = q_cams[pair_q] == g_cams[pair_g]
    match = ~same_cam & (g_pids[pair_g] != JUNK_PID)
    return pair_q[match], pair_g[match], pair_q[same_cam], pair_g[same_cam]


def _summarise(ap: np.ndarray, inp: np.ndarray, first_hit: np.ndarray, max_rank: int) -> ReIDMetrics:
    """Collect per-query AP, INP and first-hit ranks [Nq] into mAP, mINP and CMC over the valid queries."""
    valid = first_hit >= 0
    num_valid = int(valid.sum())
    if num_valid == 0:
        raise ValueError(
            "no query has a true match left in the gallery (same pid, different camera): "
            "check that query and gallery pids and camera ids come from the same dataset"
        )
    hits_at = np.bincount(np.minimum(first_hit[valid], max_rank), minlength=max_rank + 1)[:max_rank]
    return ReIDMetrics(
        mAP=math.fsum(ap[valid].tolist()) / num_valid,
        mINP=math.fsum(inp[valid].tolist()) / num_valid,
        cmc=np.cumsum(hits_at) / num_valid,
        num_valid=num_valid,
        num_skipped=len(ap) - num_valid,
        ap=ap,
        first_hit=first_hit,
        inp=inp,
    )


def _as_features(x: Features, name: str) -> torch.Tensor:
    """float32 [N, D] tensor on its own device; rejects empty, non-finite or non-unit rows."""
    t = torch.as_tensor(x).float()
    if t.ndim != 2 or t.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty [N, D] matrix, got shape {tuple(t.shape)}")
    norms = torch.linalg.vector_norm(t, dim=1)
    bad = ~((norms - 1).abs() <= NORM_TOLERANCE)  # also catches NaN
    if bad.any():
        raise ValueError(
            f"{name}: {int(bad.sum())} of {len(t)} rows are not L2-normalised (e.g. norm "
            f"{norms[bad][0].item():.4g}); evaluate torch.nn.functional.normalize(features, dim=1) in float32"
        )
    return t


def _as_ids(x: Ids, n: int, name: str) -> np.ndarray:
    """int64 [n] numpy array of pids or camera ids."""
    a = np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x)
    if a.shape != (n,) or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be {n} integers (one per feature row), got {a.dtype} array of shape {a.shape}")
    return a.astype(np.int64, copy=False)


def _on(a: np.ndarray, device: torch.device) -> torch.Tensor:
    """Index array [P] as an int64 tensor on device."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(device)
