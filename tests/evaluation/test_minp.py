"""mINP beside mAP and CMC: hand-computed cases with ties, and `evaluate_distances` (the chunked
evaluator fed distances) against `evaluate_features` and the full-sort reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid.evaluation.metrics import (
    evaluate_distances,
    evaluate_features,
    evaluate_reference,
    pairwise_distances,
)
from tests.evaluation.helpers import assert_identical, both, dyadic_features, on_circle


@pytest.mark.parametrize(
    ("angles", "pids", "expected_inp"),
    [
        # the last match g2 ties a negative of lower index (g1): it counts ahead -> rank 3, INP 2/3
        ([30, 30, 30, 60], [1, 2, 1, 3], 2 / 3),
        # the same tie with the negative after the match: rank 2 for both matches, INP 2/2
        ([30, 30, 30, 60], [1, 1, 2, 3], 1.0),
        # a single match last of four, behind a tie of three negatives: INP 1/4
        ([10, 10, 10, 10], [2, 3, 4, 1], 1 / 4),
        # two matches tied at the far end after two negatives: ranks 3, 4 -> INP 2/4
        ([10, 20, 40, 40], [2, 3, 1, 1], 2 / 4),
    ],
)
def test_inp_counts_every_item_ranked_before_the_last_match(angles, pids, expected_inp) -> None:
    m = both(on_circle([0]), on_circle(angles), [1], pids, [0], [1] * len(pids))
    assert m.inp[0] == pytest.approx(expected_inp) and m.mINP == m.inp[0]


def test_inp_skips_removed_and_junk_items() -> None:
    # q (pid 1, cam 0): g0 same camera (removed), g1 junk (removed), g2 negative, g3 match, g4 negative:
    # kept g2 g3* g4 -> INP 1/2 (1/4 if the removed items counted)
    m = both(on_circle([0]), on_circle([0, 5, 10, 20, 30]), [1], [1, -1, 2, 1, 3], [0], [0, 1, 1, 1, 1])
    assert (m.inp[0], m.mINP, m.mAP) == (0.5, 0.5, 0.5)


def test_minp_averages_valid_queries_only() -> None:
    # q0 matches g1 (INP 1/2), q1 has its only match last of 3 (INP 1/3), q2 has none (skipped)
    m = both(on_circle([0, 0, 0]), on_circle([10, 20, 30]), [1, 2, 9], [3, 1, 2], [0, 0, 0], [1, 1, 1])
    assert m.mINP == pytest.approx((1 / 2 + 1 / 3) / 2) and np.isnan(m.inp[2])


@pytest.mark.parametrize("chunk_size", [1, 3, 50])
def test_evaluate_distances_equals_the_reference_on_any_distances(chunk_size: int) -> None:
    # distances that are no feature geometry at all, with many exact ties (multiples of 1/4)
    rng = np.random.default_rng(chunk_size)
    dist = (rng.integers(0, 8, (40, 90)) / 4).astype(np.float32)
    ids = rng.integers(-1, 5, 40), rng.integers(-1, 5, 90), rng.integers(0, 3, 40), rng.integers(0, 3, 90)
    got = evaluate_distances(lambda s, e: torch.from_numpy(dist[s:e].copy()), 40, 90, *ids, max_rank=20,
                             chunk_size=chunk_size)
    assert_identical(got, evaluate_reference(dist, *ids, max_rank=20))
    assert 0 < got.mINP < got.mAP < 1


def test_evaluate_distances_with_feature_distances_is_evaluate_features() -> None:
    rng = np.random.default_rng(1)
    qf, gf = dyadic_features(rng, 30), dyadic_features(rng, 70)
    ids = rng.integers(0, 6, 30), rng.integers(0, 6, 70), rng.integers(0, 2, 30), rng.integers(0, 2, 70)
    dist = pairwise_distances(qf, gf)
    got = evaluate_distances(lambda s, e: torch.from_numpy(dist[s:e].copy()), 30, 70, *ids, chunk_size=7)
    assert_identical(got, evaluate_features(qf, gf, *ids, chunk_size=7))


def test_evaluate_distances_rejects_a_chunk_of_the_wrong_shape_or_type() -> None:
    ids = [1], [1, 2], [0], [1, 1]
    with pytest.raises(ValueError, match=r"distances\(0, 1\) gave a torch.float32 \(1, 3\) tensor.*\(1, 2\)"):
        evaluate_distances(lambda s, e: torch.zeros(e - s, 3), 1, 2, *ids)
    with pytest.raises(ValueError, match="torch.float64"):
        evaluate_distances(lambda s, e: torch.zeros(e - s, 2, dtype=torch.float64), 1, 2, *ids)
