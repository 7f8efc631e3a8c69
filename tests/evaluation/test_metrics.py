"""Market-1501 metrics: hand-computed cases, protocol rules, ties, and chunked == reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.evaluation.metrics import (
    evaluate_features,
    evaluate_reference,
    pairwise_distances,
)
from tests.evaluation.helpers import assert_identical, both, dyadic_features, on_circle
from tests.kit.strategies import seeds


# Gallery g0..g5 at 0°, 30°, ..., 150°. Query q0 at 0° sees them in order g0..g5, q1 at 180° in
# order g5..g0; q2, q3 have no valid match.
#   idx    g0  g1  g2  g3  g4  g5
#   pid     1   3   1   2   0   1      (0 = distractor)
#   cam     0   1   1   0   2   2
# q0 (pid 1, cam 0): g0 same pid + same cam -> removed, though it is ranked first.
#   kept: g1 g2* g3 g4 g5*  -> hits at 2, 5: AP = (1/2 + 2/5) / 2 = 0.45, first hit rank 2,
#   INP = 2 matches / rank 5 of the last = 0.4
# q1 (pid 2, cam 1): g5 g4 g3* g2 g1 g0 -> hit at 3 (the distractor g4 counts as a negative):
#   AP = 1/3, first hit rank 3, INP = 1/3
# q2 (pid 5): no pid-5 gallery item -> skipped.
# q3 (pid 3, cam 1): the only pid-3 item g1 is also camera 1 -> removed -> skipped.
# mAP = (0.45 + 1/3) / 2 = 0.391666..., mINP = (0.4 + 1/3) / 2 = 0.3666..., CMC = 0, 0.5, 1, 1, ...
HAND_QUERY = on_circle([0, 180, 90, 90])
HAND_GALLERY = on_circle([0, 30, 60, 90, 120, 150])
HAND_IDS = ([1, 2, 5, 3], [1, 3, 1, 2, 0, 1], [0, 1, 0, 1], [0, 1, 1, 0, 2, 2])


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 4])
def test_hand_computed_map_and_cmc(chunk_size: int) -> None:
    m = both(HAND_QUERY, HAND_GALLERY, *HAND_IDS, chunk_size=chunk_size)
    np.testing.assert_array_equal(m.first_hit, [1, 2, -1, -1])
    assert m.ap[0] == pytest.approx(0.45) and m.ap[1] == pytest.approx(1 / 3)
    assert np.isnan(m.ap[2:]).all()
    assert m.mAP == pytest.approx((0.45 + 1 / 3) / 2)
    assert m.inp[0] == pytest.approx(0.4) and m.inp[1] == pytest.approx(1 / 3) and np.isnan(m.inp[2:]).all()
    assert m.mINP == pytest.approx((0.4 + 1 / 3) / 2)
    np.testing.assert_allclose(m.cmc, [0, 0.5, 1, 1, 1, 1, 1, 1, 1, 1])
    assert (m.rank1, m.rank5, m.rank10) == (0.0, 1.0, 1.0)
    assert (m.num_valid, m.num_skipped) == (2, 2)


def test_summary_and_rank_bounds() -> None:
    m = both(HAND_QUERY, HAND_GALLERY, *HAND_IDS, max_rank=5)
    assert m.summary() == {"mAP": m.mAP, "rank1": 0.0, "rank5": 1.0, "mINP": m.mINP, "num_valid": 2, "num_skipped": 2}
    with pytest.raises(ValueError, match="max_rank >= 10"):
        m.rank10


def test_same_camera_match_ranked_first_does_not_count() -> None:
    # q (pid 1, cam 0): g0 identical to q but same camera; negative at 30°; true match at 60°.
    # kept: neg, match -> AP = 1/2, Rank-1 = 0 (counting g0 would give AP = 1, Rank-1 = 1).
    m = both(on_circle([0]), on_circle([0, 30, 60]), [1], [1, 2, 1], [0], [0, 0, 1])
    assert (m.mAP, m.rank1, int(m.first_hit[0])) == (0.5, 0.0, 1)


def test_junk_gallery_items_are_dropped_not_negatives() -> None:
    # junk (pid -1) identical to q, negative at 30°, match at 60°: kept neg, match -> AP = 1/2
    # (1/3 if junk counted as a negative, and junk never counts as a match, even for a pid -1 query).
    m = both(on_circle([0, 0]), on_circle([0, 30, 60]), [1, 1], [-1, 2, 1], [0, 0], [1, 1, 1])
    assert m.mAP == 0.5
    junk_query = both(on_circle([0, 0]), on_circle([0, 30, 60]), [1, -1], [-1, 2, 1], [0, 0], [1, 1, 1])
    assert (junk_query.num_valid, junk_query.num_skipped, junk_query.mAP) == (1, 1, 0.5)


def test_distractors_count_as_negatives() -> None:
    # two pid-0 distractors ahead of the only match: hit at 3 -> AP = 1/3, Rank-1 = Rank-2 = 0.
    m = both(on_circle([0]), on_circle([10, 20, 30]), [4], [0, 0, 4], [0], [1, 2, 3])
    assert m.mAP == pytest.approx(1 / 3)
    np.testing.assert_array_equal(m.cmc[:3], [0, 0, 1])


@pytest.mark.parametrize(("pids", "expected_ap", "expected_first"), [([2, 1], 0.5, 1), ([1, 2], 1.0, 0)])
def test_ties_break_by_gallery_index(pids: list[int], expected_ap: float, expected_first: int) -> None:
    # a negative and a match at exactly the same distance: the lower gallery index ranks first.
    gallery = on_circle([30, 30, 90])
    m = both(on_circle([0]), gallery, [1], [*pids, 3], [0], [1, 1, 1])
    assert (m.mAP, int(m.first_hit[0])) == (expected_ap, expected_first)


def test_perfect_features_give_map_one() -> None:
    rng = np.random.default_rng(0)
    g_pids, q_pids = np.repeat(np.arange(1, 9), 5), np.arange(1, 9)
    g_cams, q_cams = np.tile(np.arange(5), 8), np.zeros(8, dtype=np.int64)
    eye = np.eye(16, dtype=np.float32)
    order = rng.permutation(len(g_pids))
    m = both(torch.from_numpy(eye[q_pids]), eye[g_pids[order]], q_pids, g_pids[order], q_cams, g_cams[order])
    assert (m.mAP, m.rank1, m.num_valid) == (1.0, 1.0, 8)


def test_cmc_longer_than_gallery_saturates() -> None:
    m = both(on_circle([0]), on_circle([10, 20]), [1], [2, 1], [0], [1, 1], max_rank=50)
    assert len(m.cmc) == 50 and m.cmc[0] == 0 and (m.cmc[1:] == 1).all()


@settings(max_examples=80, deadline=None)
@given(
    seed=seeds,
    num_query=st.integers(1, 25),
    num_gallery=st.integers(1, 60),
    num_pids=st.integers(1, 6),
    num_cams=st.integers(1, 3),
)
def test_chunked_equals_reference_with_ties(
    seed: int, num_query: int, num_gallery: int, num_pids: int, num_cams: int
) -> None:
    rng = np.random.default_rng(seed)
    qf, gf = dyadic_features(rng, num_query), dyadic_features(rng, num_gallery)
    ids = (
        rng.integers(-1, num_pids, num_query), rng.integers(-1, num_pids, num_gallery),
        rng.integers(0, num_cams, num_query), rng.integers(0, num_cams, num_gallery),
    )
    try:
        ref = evaluate_reference(pairwise_distances(qf, gf), *ids, max_rank=20)
    except ValueError:
        with pytest.raises(ValueError, match="no query has a true match"):
            evaluate_features(qf, gf, *ids)
        return
    for chunk_size in (1, 2, 5, num_query):
        assert_identical(evaluate_features(qf, gf, *ids, max_rank=20, chunk_size=chunk_size), ref)


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_chunked_equals_reference_on_real_valued_features(chunk_size: int) -> None:
    # Real-valued distances differ in the last bit between BLAS calls of different row counts,
    # so the reference gets the matrix built with the same chunking.
    gen = torch.Generator().manual_seed(chunk_size)
    centres = torch.randn(30, 32, generator=gen)
    q_pids, g_pids = torch.randint(0, 30, (150,), generator=gen), torch.randint(0, 30, (600,), generator=gen)
    q_cams, g_cams = torch.randint(0, 4, (150,), generator=gen), torch.randint(0, 4, (600,), generator=gen)
    qf = torch.nn.functional.normalize(centres[q_pids] + 1.5 * torch.randn(150, 32, generator=gen), dim=1)
    gf = torch.nn.functional.normalize(centres[g_pids] + 1.5 * torch.randn(600, 32, generator=gen), dim=1)
    got = evaluate_features(qf, gf, q_pids, g_pids, q_cams, g_cams, chunk_size=chunk_size)
    ref = evaluate_reference(pairwise_distances(qf, gf, chunk_size), q_pids, g_pids, q_cams, g_cams)
    assert_identical(got, ref)
    assert 0.05 < got.mAP < 0.95 and got.num_skipped < 10


def test_distances_are_two_minus_two_cos() -> None:
    d = pairwise_distances(on_circle([0]), on_circle([0, 60, 90, 180]))
    np.testing.assert_allclose(d, [[0.0, 1.0, 2.0, 4.0]], atol=1e-6)


def test_rejects_unnormalised_features() -> None:
    with pytest.raises(ValueError, match="not L2-normalised"):
        evaluate_features(2 * HAND_QUERY, HAND_GALLERY, *HAND_IDS)
    nan_gallery = HAND_GALLERY.copy()
    nan_gallery[1, 0] = math.nan
    with pytest.raises(ValueError, match="1 of 6 rows are not L2-normalised"):
        evaluate_features(HAND_QUERY, nan_gallery, *HAND_IDS)


def test_rejects_mismatched_inputs() -> None:
    q_pids, g_pids, q_cams, g_cams = HAND_IDS
    with pytest.raises(ValueError, match="gallery_pids must be 6 integers"):
        evaluate_features(HAND_QUERY, HAND_GALLERY, q_pids, g_pids[:5], q_cams, g_cams)
    with pytest.raises(ValueError, match="share feature dimension"):
        evaluate_features(HAND_QUERY, np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]], *HAND_IDS)


def test_no_valid_query_is_an_error() -> None:
    with pytest.raises(ValueError, match="no query has a true match"):
        evaluate_features(HAND_QUERY[2:], HAND_GALLERY, [5, 3], HAND_IDS[1], [0, 1], HAND_IDS[3])
