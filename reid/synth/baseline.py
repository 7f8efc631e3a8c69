"""A hand-crafted Re-ID baseline that checks the synthetic benchmark is fit for purpose.

Three properties must hold, or the benchmark cannot tell a good DG Re-ID method from a bad one:
1. within a domain, retrieval is far above chance (identities are learnable);
2. part-level features beat whole-image features (identities differ in part details
   while whole-body colour statistics collide — the premise of MUVA);
3. a metric fitted on one domain transfers worse to another (a real domain gap).

Features are HSV colour histograms, of the whole crop or of each ground-truth part box
concatenated; the optional metric is a regularised Fisher LDA fitted on the source
domain's training split. Retrieval is Euclidean nearest neighbour on L2-normalised
features, scored with the Market-1501 protocol (`market_eval`; a separate, optimised
evaluator serves the real pipeline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import polars as pl

from reid.synth.layouts import DATASETS, GT_BOXES, read_split
from reid.synth.person import PARTS
from reid.utils.images import read_image

HSV_BINS = (8, 4, 4)


def hsv_histogram(rgb: np.ndarray) -> np.ndarray:
    """Joint HSV histogram [prod(HSV_BINS)], L1-normalised then square-rooted (Hellinger)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(HSV_BINS), [0, 180, 0, 256, 0, 256]).ravel()
    return np.sqrt(hist / max(hist.sum(), 1.0))


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class SplitFeatures:
    """Features of one split (junk dropped): whole crop [N, B], person box (union of the part
    boxes: background mostly removed, no part structure) [N, B], parts [N, 3B], pids [N], cams [N]."""

    whole: np.ndarray
    body: np.ndarray
    parts: np.ndarray
    pids: np.ndarray
    cams: np.ndarray


def domain_features(out_root: Path, key: str) -> dict[str, SplitFeatures]:
    """Histogram features of every split of one generated domain, read from disk."""
    dataset_dir = Path(out_root) / DATASETS[key].folder
    gt = pl.read_parquet(dataset_dir / GT_BOXES).select("image_id", "part", "x0", "y0", "x1", "y1")
    boxes: dict[str, dict[str, tuple[int, int, int, int]]] = {}
    for image_id, part, x0, y0, x1, y1 in gt.iter_rows():
        boxes.setdefault(image_id, {})[part] = (int(x0), int(y0), math.ceil(x1), math.ceil(y1))
    out = {}
    for split in ("train", "query", "gallery"):
        entries = [e for e in read_split(dataset_dir, key, split) if e.pid != -1]
        whole, body, parts = [], [], []
        for e in entries:
            img = read_image(dataset_dir / e.relpath)
            b = [boxes[f"{key}/{e.relpath}"][p] for p in PARTS]
            x0, y0 = min(x[0] for x in b), min(x[1] for x in b)
            x1, y1 = max(x[2] for x in b), max(x[3] for x in b)
            whole.append(hsv_histogram(img))
            body.append(hsv_histogram(img[y0:y1, x0:x1]))
            parts.append(np.concatenate([hsv_histogram(img[y0:y1, x0:x1]) for x0, y0, x1, y1 in b]))
        out[split] = SplitFeatures(
            np.array(whole), np.array(body), np.array(parts),
            np.array([e.pid for e in entries]), np.array([e.cam for e in entries]),
        )
    return out


@dataclass(frozen=True)
class Projection:
    """A linear metric: centre, project [D, K], L2-normalise."""

    mean: np.ndarray
    matrix: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return _l2((x - self.mean) @ self.matrix)


def fit_lda(x: np.ndarray, pids: np.ndarray, dim: int = 64, shrinkage: float = 0.1) -> Projection:
    """Regularised Fisher LDA: whiten the within-identity scatter (shrunk towards a scaled
    identity, since there are few images per id), then keep the top between-identity directions."""
    mean = x.mean(axis=0)
    classes = np.unique(pids)
    centroids = np.stack([x[pids == c].mean(axis=0) for c in classes])
    within = x - centroids[np.searchsorted(classes, pids)]
    sw = within.T @ within / len(x)
    sw = (1 - shrinkage) * sw + shrinkage * np.trace(sw) / len(sw) * np.eye(len(sw))
    evals, evecs = np.linalg.eigh(sw)
    whiten = evecs / np.sqrt(np.maximum(evals, 1e-12))
    counts = np.array([(pids == c).sum() for c in classes], dtype=np.float64)
    between = (centroids - mean) * np.sqrt(counts)[:, None] @ whiten
    _, _, vt = np.linalg.svd(between, full_matrices=False)
    return Projection(mean, whiten @ vt[: min(dim, len(classes) - 1)].T)


def market_eval(
    dist: np.ndarray, q_pids: np.ndarray, q_cams: np.ndarray, g_pids: np.ndarray, g_cams: np.ndarray,
    ranks: tuple[int, ...] = (1, 5, 10),
) -> dict[str, float]:
    """Market-1501 protocol on a [Nq, Ng] distance matrix.

    Per query, gallery images with the same pid *and* camera are dropped; queries with no
    remaining true match are skipped. AP = mean precision at each true match; CMC@k =
    fraction of queries with a true match within the first k.
    """
    order = np.argsort(dist, axis=1, kind="stable")
    aps, firsts = [], []
    for i in range(len(q_pids)):
        o = order[i]
        keep = ~((g_pids[o] == q_pids[i]) & (g_cams[o] == q_cams[i]))
        match = g_pids[o][keep] == q_pids[i]
        if not match.any():
            continue
        positions = np.flatnonzero(match)
        aps.append(float(np.mean(np.arange(1, len(positions) + 1) / (positions + 1))))
        firsts.append(int(positions[0]))
    firsts_arr = np.array(firsts)
    result = {"mAP": float(np.mean(aps)), "queries": float(len(aps))}
    result |= {f"rank{k}": float(np.mean(firsts_arr < k)) for k in ranks}
    return result


def _dist(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    q, g = _l2(q), _l2(g)
    return np.sqrt(np.maximum(2.0 - 2.0 * q @ g.T, 0.0))


def retrieval(query: SplitFeatures, gallery: SplitFeatures, what: str,
              metric: Projection | None = None) -> dict[str, float]:
    """Nearest-neighbour retrieval with `what` ∈ {whole, parts} features (optionally projected)."""
    q, g = getattr(query, what), getattr(gallery, what)
    if metric is not None:
        q, g = metric(q), metric(g)
    return market_eval(_dist(q, g), query.pids, query.cams, gallery.pids, gallery.cams)


def chance_map(query: SplitFeatures, gallery: SplitFeatures, draws: int = 20, seed: int = 0) -> float:
    """mAP of random rankings under the same protocol (the floor to compare against)."""
    rng = np.random.default_rng(seed)
    return float(np.mean([
        market_eval(rng.random((len(query.pids), len(gallery.pids))), query.pids, query.cams,
                    gallery.pids, gallery.cams)["mAP"]
        for _ in range(draws)
    ]))


def camera_domain_spread(features: dict[str, dict[str, SplitFeatures]]) -> tuple[float, float]:
    """Mean distance between per-camera mean whole-image histograms: (same domain, different domains).

    Evidence that domains differ more than cameras inside a domain do.
    """
    means, owners = [], []
    for key, splits in features.items():
        whole = np.concatenate([s.whole for s in splits.values()])
        cams = np.concatenate([s.cams for s in splits.values()])
        for cam in np.unique(cams):
            means.append(whole[cams == cam].mean(axis=0))
            owners.append(key)
    m, owner = np.stack(means), np.array(owners)
    d = np.linalg.norm(m[:, None] - m[None], axis=2)
    upper = np.triu(np.ones_like(d, dtype=bool), 1)
    same = owner[:, None] == owner[None]
    return float(d[upper & same].mean()), float(d[upper & ~same].mean())
