"""k-reciprocal re-ranking (Zhong et al., CVPR 2017) from neighbour lists, in bounded memory.

It computes what the public code's (Q+G)² formulation computes (SPEC §7). Over all N = Q + G
items, queries first (queries are neighbours of each other too):
  d          the evaluator's distance 2 − 2·cos, each item's row divided by its column max;
  R(i, k)    the k-reciprocal set: those of i's k+1 nearest that have i among their k+1 nearest;
  R*(i)      R(i, k1) grown by R(c, round(k1/2)) of each member c sharing more than 2/3 of it;
  V[i]       exp(−d(i, ·)) on R*(i), normalised to sum 1, then averaged over i's k2 nearest;
  Jaccard    1 − s / (2 − s), s = Σ_k min(V[q, k], V[g, k]);
  final      (1 − λ)·Jaccard + λ·d, query × gallery.
Ties in d go to the lower index, as a stable sort breaks them.

An optional `PairOverride` replaces d at a few (query, gallery) pairs, both ways, before
anything above is taken from it: the public code run on the matrix with those entries written
in (how MUSE fuses a judge's μ into the distances, reid.muse.fusion).

Nothing N × N is held (at MSMT17's N = 93,820 one float32 matrix is 35 GB): one chunked pass
over the distances gives each item's scale and k1+1 nearest, V is sparse (about a hundred
entries a row) and the final distances come one query chunk at a time, the way
`evaluate_distances` asks for them. Sums run in float64 and are rounded to float32 once, so
the order of the additions (atomic, so unordered, on CUDA) stays far below the result's precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from reid.evaluation.config import KReciprocalParams
from reid.evaluation.metrics import (
    DEFAULT_CHUNK_SIZE,
    Features,
    Ids,
    _as_features,
    _distances,
)
from reid.utils.progress import progress

ROW_BLOCK = 4096  # items per step of the sparse work (set growth, query expansion)
PAIR_BLOCK = 1 << 16  # item pairs per gathered dot product


@dataclass(frozen=True)
class SparseRows:
    """A sparse matrix by rows: row r holds cols[ptr[r]:ptr[r+1]] (ascending) with vals there."""

    ptr: torch.Tensor  # [R + 1] int64
    cols: torch.Tensor  # [E] int64
    vals: torch.Tensor  # [E] float32

    @staticmethod
    def from_keys(keys: torch.Tensor, vals: torch.Tensor, num_rows: int, width: int) -> SparseRows:
        """From ascending keys row·width + col and their values."""
        ptr = torch.zeros(num_rows + 1, dtype=torch.int64, device=keys.device)
        ptr[1:] = torch.bincount(keys // width, minlength=num_rows).cumsum(0)
        return SparseRows(ptr, keys % width, vals)

    def take(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The entries of `rows` [n], row after row: (position in `rows`, col, val), each [E']."""
        start, count = self.ptr[rows], self.ptr[rows + 1] - self.ptr[rows]
        owner = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), count)
        offset = torch.repeat_interleave(start - (count.cumsum(0) - count), count)
        offset += torch.arange(len(offset), device=rows.device)
        return owner, self.cols[offset], self.vals[offset]

    def rows(self) -> torch.Tensor:
        """Each entry's row [E]."""
        return torch.repeat_interleave(torch.arange(len(self.ptr) - 1, device=self.ptr.device), self.ptr.diff())

    def put(self, values: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, width: int) -> torch.Tensor:
        """`values` [n] of the pairs (rows[p], cols[p]), with the stored value in place where there is one."""
        keys = self.rows() * width + self.cols  # ascending
        if len(keys):
            key = rows * width + cols
            pos = torch.searchsorted(keys, key).clamp_max_(len(keys) - 1)
            hit = keys[pos] == key
            values[hit] = self.vals[pos[hit]]
        return values

    def to_dense(self, width: int) -> torch.Tensor:
        """[R, width] float32; for tests on small sets."""
        out = torch.zeros(len(self.ptr) - 1, width, device=self.ptr.device)
        out[self.rows(), self.cols] = self.vals
        return out


@dataclass(frozen=True)
class PairOverride:
    """Distances, in the evaluator's d = 2 − 2·cos space, that replace d(q, g) and d(g, q) at a few
    (query, gallery) pairs: the way a pairwise judge's verdict enters the ranking. Generic, so evaluation
    needs nothing of where the values come from (MUSE's μ: reid.muse.fusion). Built by `of`, which checks it.
    """

    query: torch.Tensor  # [P] int64
    gallery: torch.Tensor  # [P] int64
    dist: torch.Tensor  # [P] float32, finite, >= 0
    num_query: int
    num_gallery: int

    @staticmethod
    def of(query: Ids, gallery: Ids, dist: Features, num_query: int, num_gallery: int) -> PairOverride:
        """From arrays or tensors; a ValueError names the first bad pair."""
        q, g = pair_indices(query, gallery, num_query, num_gallery)
        d = torch.as_tensor(dist).float()
        if d.shape != q.shape:
            raise ValueError(f"override: {len(q)} pairs but distances of shape {tuple(d.shape)}")
        bad = ~(d.isfinite() & (d >= 0))
        if bad.any():
            p = int(bad.nonzero()[0])
            raise ValueError(f"override: distances must be finite and >= 0, got {d[p].item()} at pair "
                             f"(query {int(q[p])}, gallery {int(g[p])})")
        return PairOverride(q, g, d, num_query, num_gallery)

    def by_query(self, device: torch.device) -> SparseRows:
        """Query rows [Q] of gallery columns: the pairs a query chunk of the ranking sees."""
        key, order = torch.sort(self.query * self.num_gallery + self.gallery)
        return SparseRows.from_keys(key.to(device), self.dist[order].to(device), self.num_query, self.num_gallery)

    def symmetric(self, device: torch.device) -> SparseRows:
        """Both (q, Q + g) and (Q + g, q) over all N = Q + G items: the pairs the (Q+G)² matrix holds."""
        num = self.num_query + self.num_gallery
        item = self.num_query + self.gallery
        key, order = torch.sort(torch.cat([self.query * num + item, item * num + self.query]))
        return SparseRows.from_keys(key.to(device), self.dist.repeat(2)[order].to(device), num, num)


def require_split(made: tuple[int, int], num_query: int, num_gallery: int) -> None:
    """Refuse an override made (for `made` = (queries, gallery items)) for another query × gallery split."""
    if made != (num_query, num_gallery):
        raise ValueError(f"override made for {made[0]} queries x {made[1]} gallery, "
                         f"used with {num_query} x {num_gallery}")


def pair_indices(query: Ids, gallery: Ids, num_query: int, num_gallery: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(query, gallery) indices [P] as int64 tensors, checked: one length, in range, no pair twice."""
    q, g = torch.as_tensor(query), torch.as_tensor(gallery)
    if q.ndim != 1 or q.shape != g.shape or q.is_floating_point() or g.is_floating_point():
        raise ValueError(f"override: query and gallery indices must be integers of one length, got {q.dtype} "
                         f"{tuple(q.shape)} and {g.dtype} {tuple(g.shape)}")
    q, g = q.long(), g.long()
    for name, idx, size in (("query", q, num_query), ("gallery", g, num_gallery)):
        out = (idx < 0) | (idx >= size)
        if out.any():
            raise ValueError(f"override: {name} index {int(idx[out][0])} out of range for {size} {name} items")
    key = torch.sort(q * num_gallery + g).values
    twice = key[1:] == key[:-1]
    if twice.any():
        k = int(key[1:][twice][0])
        raise ValueError(f"override: the pair (query {k // num_gallery}, gallery {k % num_gallery}) is given twice")
    return q, g


class KReciprocal:
    """Re-ranked query × gallery distances: `self(start, stop)` is the float32 [stop − start, G]
    block of queries start..stop−1, the callable `evaluate_distances` takes.

    Building holds the features, [N, k1+1] neighbour indices and V (after query expansion)
    twice, by rows and by gallery columns; a block adds about 16 bytes × (stop − start) × G.
    With an `override`, its pairs replace d everywhere (neighbour lists, per-row scale, V, the λ·d
    term), as if written into the (Q+G)² matrix both ways; it adds 2 × 16 bytes a pair.
    """

    def __init__(
        self,
        query_feats: Features,
        gallery_feats: Features,
        config: KReciprocalParams,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        override: PairOverride | None = None,
    ):
        k1, k2, lambda_value = config.k1, config.k2, config.lambda_value
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        query, gallery = _as_features(query_feats, "query_feats"), _as_features(gallery_feats, "gallery_feats")
        if query.shape[1] != gallery.shape[1] or query.device != gallery.device:
            raise ValueError(f"query features {tuple(query.shape)} on {query.device} and gallery features "
                             f"{tuple(gallery.shape)} on {gallery.device} must share feature dimension and device")
        if override is not None:
            require_split((override.num_query, override.num_gallery), len(query), len(gallery))
        self.feats = torch.cat([query, gallery])  # [N, D]
        self.num_query, self.lambda_value = len(query), lambda_value
        self.override = None if override is None else override.symmetric(query.device)
        self.scale, self.nearest, near_dist = neighbours(self.feats, min(k1 + 1, len(self.feats)), chunk_size,
                                                         self.override)
        v = encode(self.feats, self.scale, self.nearest, near_dist, k1, self.override)
        self.v = v if k2 == 1 else expand(v, self.nearest[:, :k2])
        self._by_gallery_col = gallery_columns(self.v, self.num_query)

    def __call__(self, start: int, stop: int) -> torch.Tensor:
        rows = torch.arange(start, stop, device=self.feats.device)
        num_gallery = len(self.feats) - self.num_query
        owner, col, val = self.v.take(rows)  # the block's entries of V
        pair, gallery, gallery_val = self._by_gallery_col.take(col)  # gallery items sharing each entry's column
        shared = torch.zeros((stop - start) * num_gallery, dtype=torch.float64, device=rows.device)
        shared.index_add_(0, owner[pair] * num_gallery + gallery, torch.minimum(val[pair], gallery_val).double())
        shared = shared.view(stop - start, num_gallery)
        jaccard = (1 - shared / (2 - shared)).float()
        original = _distances(self.feats[start:stop], self.feats[self.num_query:])
        if self.override is not None:  # a query row holds gallery columns Q + g only
            owner, col, val = self.override.take(rows)
            original[owner, col - self.num_query] = val
        original.div_(self.scale[start:stop, None])
        return jaccard.mul_(1 - self.lambda_value).add_(original, alpha=self.lambda_value).clamp_min_(0)


def neighbours(
    feats: torch.Tensor, k: int, chunk_size: int, override: SparseRows | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One pass over the N × N distances, a row chunk at a time: each item's distance scale [N],
    its k nearest [N, k] int64 by scaled distance, ties to the lower index (a stable sort's order),
    and their scaled distances [N, k]. The `override` [N, N] (symmetric) is written into each chunk
    first, so the scale is the fused matrix's column max, as the public code takes it.

    The scale is the column max of the public code; the distance is symmetric, so it is the row
    max, known within the row's own chunk (in float32 the matrix product may round d(i, j) and
    d(j, i) apart by an ulp, so may the two maxima). Non-negative float32 bit patterns order like
    their values, and the index in the low bits makes every key of a row distinct, so `topk` of
    the keys is deterministic and stable.
    """
    num = len(feats)
    shift = max(1, (num - 1).bit_length())
    cols = torch.arange(num, device=feats.device)
    scale = torch.empty(num, device=feats.device)
    near = torch.empty(num, k, dtype=torch.int64, device=feats.device)
    near_dist = torch.empty(num, k, device=feats.device)
    starts = range(0, num, chunk_size)
    for start in progress(starts, desc="re-ranking: neighbours", total=len(starts), unit="chunk"):
        dist = _distances(feats[start : start + chunk_size], feats)
        if override is not None:
            owner, col, val = override.take(cols[start : start + chunk_size])
            dist[owner, col] = val
        scale[start : start + chunk_size] = row_max = dist.amax(1)
        if not (row_max > 0).all():
            raise ValueError("k-reciprocal re-ranking needs features that are not all identical (a zero distance scale)")
        keys = dist.div_(row_max[:, None]).view(torch.int32).to(torch.int64).bitwise_left_shift_(shift).bitwise_or_(cols)
        near[start : start + chunk_size] = index = keys.topk(k, dim=1, largest=False, sorted=True).indices
        near_dist[start : start + chunk_size] = dist.gather(1, index)
    return scale, near, near_dist


def reciprocal(near: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """[n, K] bool: which of the K nearest of each of `rows` [n] have that row among their own K nearest."""
    return (near[near[rows]] == rows[:, None, None]).any(-1)


def encode(
    feats: torch.Tensor,
    scale: torch.Tensor,
    near: torch.Tensor,
    near_dist: torch.Tensor,
    k1: int,
    override: SparseRows | None = None,
) -> SparseRows:
    """V before query expansion: each item's grown k-reciprocal set R*(i), weighted by exp(−d) summing to 1.

    Nearly every member of R*(i) is among i's K nearest, whose distances `neighbours` kept; the
    few others get theirs from a dot product, or from the `override` [N, N] where it has the pair.
    """
    num, device = len(feats), feats.device
    half = near[:, : min(round(k1 / 2) + 1, near.shape[1])]  # round half to even, like np.around
    half_recip = torch.cat([reciprocal(half, torch.arange(s, min(s + ROW_BLOCK, num), device=device))
                            for s in range(0, num, ROW_BLOCK)])  # [N, kh]
    keys, dists = [], []
    for start in range(0, num, ROW_BLOCK):
        rows = torch.arange(start, min(start + ROW_BLOCK, num), device=device)
        forward = near[rows]  # [n, K]
        recip = reciprocal(near, rows)  # [n, K]: membership of R(i, k1)
        cand_sets, cand_recip = half[forward], half_recip[forward]  # [n, K, kh]: R(c, k1/2) of each neighbour c
        same = cand_sets[..., None] == forward[:, None, None, :]  # [n, K, kh, K]
        shared, size = ((same & recip[:, None, None, :]).any(-1) & cand_recip).sum(-1), cand_recip.sum(-1)  # [n, K]
        grow = recip & (shared.double() > 2.0 / 3 * size.double())
        take = torch.cat([recip, (cand_recip & grow[..., None]).flatten(1)], 1)
        cols = torch.cat([forward, cand_sets.flatten(1)], 1)
        known = near_dist[rows].gather(1, same.int().argmax(-1).flatten(1))  # [n, K·kh], valid where same.any
        dist = torch.cat([near_dist[rows], known.masked_fill_(~same.any(-1).flatten(1), torch.nan)], 1)
        key, slot = torch.unique((rows[:, None] * num + cols)[take], return_inverse=True)
        keys.append(key)
        dists.append(torch.empty(len(key), device=device).scatter_(0, slot, dist[take]))  # duplicates agree
    key, dist = torch.cat(keys), torch.cat(dists)
    row = key // num
    missing = dist.isnan().nonzero().squeeze(1)
    rows, cols = row[missing], key[missing] % num
    computed = pair_distances(feats, feats, rows, cols)
    if override is not None:
        computed = override.put(computed, rows, cols, num)
    dist[missing] = computed.div_(scale[rows])
    weight = torch.exp(-dist.double())
    total = torch.zeros(num, dtype=torch.float64, device=device).index_add_(0, row, weight)
    return SparseRows.from_keys(key, (weight / total[row]).float(), num, num)


def pair_distances(a: torch.Tensor, b: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """[P] float32 distance 2 − 2·cos of each pair (a[rows[p]], b[cols[p]]), in blocks of PAIR_BLOCK pairs."""
    out = torch.empty(len(rows), device=a.device)
    for s in range(0, len(rows), PAIR_BLOCK):
        dots = (a[rows[s : s + PAIR_BLOCK]] * b[cols[s : s + PAIR_BLOCK]]).sum(1)
        out[s : s + PAIR_BLOCK] = dots.mul_(-2).add_(2).clamp_min_(0)
    return out


def expand(v: SparseRows, near: torch.Tensor) -> SparseRows:
    """Local query expansion: row i becomes the mean of the rows of its nearest items near[i] [N, k2]."""
    num, k2 = near.shape
    keys, vals = [], []
    for start in range(0, num, ROW_BLOCK):
        block = near[start : start + ROW_BLOCK]
        owner, col, val = v.take(block.reshape(-1))
        key, slot = torch.unique((owner // k2 + start) * num + col, return_inverse=True)
        total = torch.zeros(len(key), dtype=torch.float64, device=near.device).index_add_(0, slot, val.double())
        keys.append(key)
        vals.append((total / k2).float())
    return SparseRows.from_keys(torch.cat(keys), torch.cat(vals), num, num)


def gallery_columns(v: SparseRows, num_query: int) -> SparseRows:
    """V's gallery rows by column: row k of the result lists the gallery items g (0-based) with V[Q + g, k] ≠ 0."""
    num = len(v.ptr) - 1
    row = torch.repeat_interleave(torch.arange(num, device=v.ptr.device), v.ptr.diff())
    keep = row >= num_query
    key, order = torch.sort(v.cols[keep] * (num - num_query) + row[keep] - num_query)
    return SparseRows.from_keys(key, v.vals[keep][order], num, num - num_query)
