"""MUSE's fusion: the rule by hand, and the sparse override held to the full-matrix reference with
the fused entries written into the (Q+G)² matrix both ways."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid.evaluation.metrics import pairwise_distances
from reid.evaluation.rerank import KReciprocal, PairOverride
from reid.muse.fusion import MuOverride, SimpleFused, fused
from tests.evaluation.rerank_reference import rerank_reference
from tests.evaluation.test_rerank import blocks, clustered, rerank


def judged(rng: np.random.Generator, num_query: int, num_gallery: int, top: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`top` distinct random gallery columns per query, and a random μ for each pair."""
    g = np.stack([rng.choice(num_gallery, top, replace=False) for _ in range(num_query)])
    q = np.repeat(np.arange(num_query), top)
    return q, g.ravel(), rng.random(q.size).astype(np.float32)


def written(feats: np.ndarray, num_query: int, override: PairOverride) -> np.ndarray:
    """The full [N, N] distance with the override's values at (q, Q + g) and (Q + g, q)."""
    full = pairwise_distances(feats, feats, len(feats))
    q, g = override.query.numpy(), num_query + override.gallery.numpy()
    full[q, g] = full[g, q] = override.dist.numpy()
    return full


def test_the_rule_by_hand():
    d = torch.tensor([1.0, 0.25, 0.0, 4.0])  # e = 1, 0.5, 0, 2
    mu = torch.tensor([0.5, 1.0, 0.0, 0.25])
    # e′ = 0.8 e + 0.2 · 2μ, then squared: (0.8+0.2)², (0.4+0.4)², 0, (1.6+0.1)²
    np.testing.assert_allclose(fused(d, mu, 0.2).numpy(), [1.0, 0.64, 0.0, 2.89], rtol=1e-6)
    assert torch.equal(fused(d, mu, 0.0), d)  # α = 0 is the plain distance, bit for bit
    np.testing.assert_allclose(fused(d, mu, 1.0).numpy(), (2 * mu).square().numpy(), rtol=1e-6)


@pytest.mark.parametrize("chunk_size", [5, 300])
def test_k_reciprocal_with_an_override_is_the_reference_on_the_written_matrix(chunk_size):
    rng = np.random.default_rng(chunk_size)
    feats, _ = clustered(rng, 130, 15)
    num_query = 30
    q, g, mu = judged(rng, num_query, 100, 10)
    pairs = MuOverride.of(q, g, mu, 0.2, num_query, 100).pairs(feats[:num_query], feats[num_query:])
    kr = KReciprocal(feats[:num_query], feats[num_query:], rerank(), chunk_size=chunk_size, override=pairs)
    final, v = rerank_reference(written(feats, num_query, pairs), num_query)
    dense_v = kr.v.to_dense(len(feats)).numpy()
    np.testing.assert_array_equal(dense_v != 0, v != 0)
    np.testing.assert_allclose(dense_v, v, atol=1e-6)
    np.testing.assert_allclose(blocks(kr, 7), final, atol=2e-6)
    plain = blocks(KReciprocal(feats[:num_query], feats[num_query:], rerank(), chunk_size=chunk_size), 7)
    assert np.abs(plain - final).max() > 1e-2  # the override did change the ranking's input


def test_an_override_of_the_plain_distances_changes_nothing():
    rng = np.random.default_rng(3)
    feats, _ = clustered(rng, 80, 10)
    q, g, mu = judged(rng, 20, 60, 6)
    pairs = MuOverride.of(q, g, mu, 0.0, 20, 60).pairs(feats[:20], feats[20:])
    with_override = KReciprocal(feats[:20], feats[20:], rerank(), override=pairs)
    np.testing.assert_allclose(blocks(with_override, 20), blocks(KReciprocal(feats[:20], feats[20:], rerank()), 20), atol=1e-6)


def test_simple_mode_ranks_the_fused_distances_themselves():
    rng = np.random.default_rng(1)
    feats, _ = clustered(rng, 50, 8)
    q, g, mu = judged(rng, 12, 38, 5)
    pairs = MuOverride.of(q, g, mu, 0.2, 12, 38).pairs(feats[:12], feats[12:])
    expected = pairwise_distances(feats[:12], feats[12:], 5)
    expected[q, g] = fused(torch.from_numpy(expected[q, g]), torch.from_numpy(mu), 0.2).numpy()
    simple = SimpleFused(feats[:12], feats[12:], pairs)
    np.testing.assert_allclose(torch.cat([simple(s, min(s + 5, 12)) for s in range(0, 12, 5)]).numpy(), expected, atol=1e-6)


@pytest.mark.parametrize(
    "query, gallery, mu, alpha, words",
    [
        ([0, 0], [1, 1], [0.1, 0.2], 0.2, "pair (query 0, gallery 1) is given twice"),
        ([0, 4], [1, 1], [0.1, 0.2], 0.2, "query index 4 out of range for 4 query items"),
        ([0, 1], [1, 9], [0.1, 0.2], 0.2, "gallery index 9 out of range for 9 gallery items"),
        ([0, 1], [1, 2], [0.1, 1.5], 0.2, "μ must lie in [0, 1], got 1.5 at pair (query 1, gallery 2)"),
        ([0, 1], [1, 2], [0.1, float("nan")], 0.2, "μ must lie in [0, 1], got nan"),
        ([0, 1], [1, 2], [0.1, 0.2], 1.2, "alpha must lie in [0, 1], got 1.2"),
        ([0, 1], [1, 2], [0.1], 0.2, "2 pairs but μ of shape (1,)"),
    ],
)
def test_bad_overrides_are_named(query, gallery, mu, alpha, words):
    with pytest.raises(ValueError, match=None) as err:
        MuOverride.of(np.array(query), np.array(gallery), np.array(mu, dtype=np.float32), alpha, 4, 9)
    assert words in str(err.value)


def test_an_override_for_another_split_is_refused():
    rng = np.random.default_rng(2)
    feats, _ = clustered(rng, 30, 5)
    pairs = MuOverride.of([0], [1], [0.5], 0.2, 10, 20).pairs(feats[:10], feats[10:])
    with pytest.raises(ValueError, match="override made for 10 queries x 20 gallery, used with 12 x 18"):
        KReciprocal(feats[:12], feats[12:], rerank(), override=pairs)
