"""k-reciprocal re-ranking from neighbour lists against the full-matrix formulation of the public
code (`rerank_reference`), with ties; a hand-computed case; the λ ends; its parameters."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.config.load import load_config
from reid.errors import ConfigError
from reid.evaluation.metrics import (
    evaluate_distances,
    evaluate_features,
    evaluate_reference,
    pairwise_distances,
)
from reid.evaluation.config import Rerank
from reid.evaluation.rerank import KReciprocal
from tests.evaluation.helpers import dyadic_features, on_circle
from tests.evaluation.rerank_reference import rerank_reference
from tests.kit.params import section
from tests.kit.strategies import seeds

REPO = Path(__file__).resolve().parents[2]


def rerank(**fields) -> Rerank:
    """The tiny params' rerank block (the paper's k1 20, k2 6, lambda 0.3) with `fields`."""
    return section("evaluation.rerank", **fields)


def blocks(kr: KReciprocal, size: int) -> np.ndarray:
    """All query rows of the re-ranked distances, asked for `size` queries at a time."""
    return torch.cat([kr(s, min(s + size, kr.num_query)) for s in range(0, kr.num_query, size)]).numpy()


def clustered(rng: np.random.Generator, n: int, ids: int, dim: int = 16, noise: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows around `ids` random centres, and their pids [n]."""
    pids = rng.integers(0, ids, n)
    x = rng.normal(size=(ids, dim))[pids] + noise * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), pids


@settings(max_examples=25, deadline=None)
@given(
    seed=seeds,
    num_query=st.integers(1, 12),
    num_gallery=st.integers(2, 40),
    k1=st.integers(1, 25),
    k2_fraction=st.floats(0, 1),
    lambda_value=st.sampled_from([0.0, 0.3, 1.0]),
    chunk_size=st.sampled_from([1, 4, 64]),
)
def test_equals_the_full_matrix_reference_with_ties(
    seed, num_query, num_gallery, k1, k2_fraction, lambda_value, chunk_size
) -> None:
    # dyadic features: exact distances, so many exact ties, which the stable order must break alike
    rng = np.random.default_rng(seed)
    feats = dyadic_features(rng, num_query + num_gallery)
    k2 = 1 + round(k2_fraction * (k1 - 1))
    kr = KReciprocal(feats[:num_query], feats[num_query:], rerank(k1=k1, k2=k2, lambda_value=lambda_value),
                     chunk_size=chunk_size)
    original = pairwise_distances(feats, feats, chunk_size)
    final, v = rerank_reference(original, num_query, k1, k2, lambda_value)
    scaled = (original.T / original.max(axis=0)).T  # the reference's transposed column normalisation
    np.testing.assert_array_equal(kr.nearest.numpy(), np.argsort(scaled, axis=1, kind="stable")[:, : k1 + 1])
    dense_v = kr.v.to_dense(len(feats)).numpy()
    np.testing.assert_array_equal(dense_v != 0, v != 0)  # the same sets R*(i), expanded alike
    np.testing.assert_allclose(dense_v, v, atol=1e-6)
    np.testing.assert_allclose(blocks(kr, 5), final, atol=2e-6)


def test_the_dyadic_cases_do_tie_at_the_neighbourhood_edge() -> None:
    # the property test above is only a test of tie-breaking if ties straddle the k1+1 cut
    rng = np.random.default_rng(0)
    feats = dyadic_features(rng, 40)
    d = np.sort(pairwise_distances(feats, feats), axis=1)
    assert (d[:, 20] == d[:, 21]).mean() > 0.5


@pytest.mark.parametrize("chunk_size", [7, 128])
def test_equals_the_reference_on_real_valued_features(chunk_size: int) -> None:
    rng = np.random.default_rng(chunk_size)
    feats, pids = clustered(rng, 260, 30)
    cams = rng.integers(0, 3, 260)
    q = 60
    kr = KReciprocal(feats[:q], feats[q:], rerank(), chunk_size=chunk_size)
    final, _ = rerank_reference(pairwise_distances(feats, feats, chunk_size), q)
    got = blocks(kr, chunk_size)
    np.testing.assert_allclose(got, final, atol=2e-6)
    ids = pids[:q], pids[q:], cams[:q], cams[q:]
    ours = evaluate_distances(kr, q, 200, *ids, chunk_size=chunk_size)
    ref = evaluate_reference(final, *ids)
    assert ours.mAP == pytest.approx(ref.mAP, abs=1e-9) and ours.mINP == pytest.approx(ref.mINP, abs=1e-9)
    np.testing.assert_array_equal(ours.cmc, ref.cmc)


def test_hand_computed_case() -> None:
    # q at 0°, g0 at 10°, g1 at 90°; d = 2 − 2·cos: d(q,g0) = a, d(q,g1) = 2, d(g0,g1) = b = 2 − 2·cos 80°.
    # k1 = 1: the 2 nearest of q are (q, g0), of g0 (g0, q), of g1 (g1, g0): R(q) = R(g0) = {q, g0}, R(g1) = {g1};
    # round(1/2) = 0, so each R(c, 0) = {c}, wholly inside, and nothing new joins.
    # Scales (row max): 2 for q, b for g0.  V[q] = (1, e^(−a/2)) / (1 + e^(−a/2)) on (q, g0),
    # V[g0] = (e^(−a/b), 1) / (1 + e^(−a/b)) on (q, g0); k2 = 1: no expansion.
    # Jaccard(q, g0) = 1 − s/(2 − s), s = Σ min; Jaccard(q, g1) = 1 (nothing shared).
    a, b = 2 - 2 * math.cos(math.radians(10)), 2 - 2 * math.cos(math.radians(80))
    vq = np.array([1, math.exp(-a / 2)]) / (1 + math.exp(-a / 2))
    vg0 = np.array([math.exp(-a / b), 1]) / (1 + math.exp(-a / b))
    s = np.minimum(vq, vg0).sum()
    lam = 0.3
    expected = [(1 - lam) * (1 - s / (2 - s)) + lam * a / 2, (1 - lam) * 1 + lam * 2 / 2]
    kr = KReciprocal(on_circle([0]), on_circle([10, 90]), rerank(k1=1, k2=1, lambda_value=lam))
    np.testing.assert_allclose(kr(0, 1).numpy()[0], expected, rtol=1e-5)
    np.testing.assert_allclose(kr.v.to_dense(3).numpy()[:2, :2], [vq, vg0], rtol=1e-6)


def test_lambda_one_is_the_scaled_original_distance() -> None:
    rng = np.random.default_rng(3)
    feats, _ = clustered(rng, 90, 10)
    original = pairwise_distances(feats, feats)
    kr = KReciprocal(feats[:20], feats[20:], rerank(lambda_value=1.0))
    np.testing.assert_allclose(blocks(kr, 8), original[:20, 20:] / original[:20].max(1, keepdims=True), atol=1e-6)


def test_lambda_zero_is_a_jaccard_distance_in_zero_one() -> None:
    # two far-apart groups of 30, more than k1 + 1 = 21 each: no item has a neighbour in the other group,
    # so across groups nothing is shared (Jaccard 1); a query and its exact copy share everything (0)
    rng = np.random.default_rng(4)
    x = np.repeat(np.eye(16)[:2], 30, axis=0) + 0.1 * rng.normal(size=(60, 16))
    feats = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    query = [0, 30]  # one query per group
    gallery = np.delete(feats, query, axis=0)
    jaccard = blocks(KReciprocal(feats[query], gallery, rerank(lambda_value=0.0)), 2)
    assert (jaccard[0, 29:] == 1).all() and (jaccard[1, :29] == 1).all()
    assert (jaccard[0, :29] < 1).all() and jaccard.min() >= 0
    duplicate = blocks(KReciprocal(feats[query], feats[query], rerank(k1=1, k2=1, lambda_value=0.0)), 2)
    assert duplicate[0, 0] == pytest.approx(0, abs=1e-6) and duplicate[0, 1] == 1


def test_the_blocks_are_deterministic_and_do_not_depend_on_their_size() -> None:
    # bit for bit when asked again; across block sizes the matrix product rounds the last bit apart
    rng = np.random.default_rng(5)
    feats, _ = clustered(rng, 150, 12)
    kr = KReciprocal(feats[:40], feats[40:], rerank())
    np.testing.assert_array_equal(blocks(kr, 7), blocks(kr, 7))
    np.testing.assert_allclose(blocks(kr, 1), blocks(kr, 40), atol=1e-6)
    np.testing.assert_allclose(blocks(kr, 7), blocks(KReciprocal(feats[:40], feats[40:], rerank(), chunk_size=16), 7), atol=1e-6)


def test_re_ranking_helps_where_neighbours_are_reciprocal() -> None:
    # 60 identities seen by 3 biased cameras: re-ranking lifts mAP (57 -> 81 %) and mINP (32 -> 74 %),
    # as in the paper
    rng = np.random.default_rng(6)
    num = 600
    pids, cams = rng.integers(0, 60, num), rng.integers(0, 3, num)
    x = rng.normal(size=(60, 32))[pids] + 0.5 * rng.normal(size=(3, 32))[cams] + 1.0 * rng.normal(size=(num, 32))
    feats = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    ids = pids[:100], pids[100:], cams[:100], cams[100:]
    plain = evaluate_features(feats[:100], feats[100:], *ids)
    reranked = evaluate_distances(KReciprocal(feats[:100], feats[100:], rerank()), 100, 500, *ids)
    assert reranked.mAP > plain.mAP + 0.2 and reranked.mINP > plain.mINP + 0.3


@pytest.mark.parametrize(("fields", "message"), [
    ({"k1": 0}, "k1"),
    ({"k1": 5, "k2": 6}, r"k2 = 6: must not exceed k1 \(5\)"),
    ({"k2": 0}, "k2"),
    ({"lambda_value": 1.5}, "lambda_value"),
])
def test_parameters_are_checked(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        section("evaluation.rerank", **fields)


def test_identical_features_are_refused() -> None:
    with pytest.raises(ValueError, match="not all identical"):
        KReciprocal(on_circle([30]), on_circle([30, 30]), rerank())


@pytest.mark.parametrize(("key", "value", "words"), [
    ("k2", 30, "evaluation.rerank.k2 = 30: must not exceed k1 (20)"),
    ("lambda_value", 1.5, "evaluation.rerank.lambda_value = 1.5: must be less than or equal to 1"),
    ("k1", 0, "evaluation.rerank.k1 = 0: must be greater than or equal to 1"),
    ("enabled", "yes", "evaluation.rerank.enabled = 'yes'"),
    ("enabled", KeyError, "evaluation.rerank.enabled: missing"),
])
def test_a_bad_rerank_parameter_is_named(tmp_path, key, value, words) -> None:
    params = copy.deepcopy(yaml.safe_load((REPO / "params.yaml").read_text()))
    if value is KeyError:
        del params["evaluation"]["rerank"][key]
    else:
        params["evaluation"]["rerank"][key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_both_configurations_leave_re_ranking_off_with_the_papers_parameters() -> None:
    for name in ("params.yaml", "configs/paper.yaml"):
        assert load_config(REPO / name).evaluation.rerank.model_dump() == {"enabled": False, "k1": 20, "k2": 6,
                                                                      "lambda_value": 0.3}
