"""Bootstrap intervals over query identities: hand-checked percentiles, identities (not queries)
resampled, skipped queries ignored, determinism, the average over targets, errors."""

from __future__ import annotations

import numpy as np
import pytest

from reid.evaluation.bootstrap import (
    BootstrapDraws,
    Interval,
    average_draws,
    bootstrap_draws,
)

# Identity 7: three queries, each AP 1 and a hit at rank 1; identity 9: one query, AP 0, first hit at rank 4.
# mAP = Rank-1 = 3/4. A draw of two identities is {7, 7} (1), {7, 9} (3/4 from 3 + 1 queries) or {9, 9} (0),
# with probabilities 1/4, 1/2, 1/4: the 2.5 / 97.5 percentiles are 0 and 1.
AP = np.array([1.0, 1.0, 1.0, 0.0])
FIRST_HIT = np.array([0, 0, 0, 3])
PIDS = np.array([7, 7, 7, 9])


def test_two_identities_give_the_hand_computed_draws_and_interval() -> None:
    draws = bootstrap_draws(AP, FIRST_HIT, PIDS)
    for values in (draws.mAP, draws.rank1):
        assert set(np.unique(values)) == {0.0, 0.75, 1.0}
        assert np.mean(values == 0.75) == pytest.approx(0.5, abs=0.05)
    assert draws.intervals() == {"mAP": Interval(0.0, 1.0), "rank1": Interval(0.0, 1.0)}


def test_identities_not_queries_are_resampled() -> None:
    # resampling the four queries on their own (one pid each) draws k/4 and leaves out the rare
    # all-AP-0 draws (1/256): its interval is [0.25, 1], narrower than the identities' [0, 1]
    per_query = bootstrap_draws(AP, FIRST_HIT, np.arange(4))
    assert set(np.unique(per_query.mAP)) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    assert per_query.intervals()["mAP"] == Interval(0.25, 1.0)
    assert bootstrap_draws(AP, FIRST_HIT, PIDS).intervals()["mAP"] == Interval(0.0, 1.0)


def test_equal_values_give_a_zero_width_interval_at_the_value() -> None:
    draws = bootstrap_draws(np.full(6, 0.5), np.array([0, 2, 0, 1, 0, 5]), np.array([1, 1, 2, 3, 3, 3]))
    intervals = draws.intervals()
    assert intervals["mAP"] == Interval(0.5, 0.5)
    assert intervals["rank1"].low < intervals["rank1"].high  # the first hits differ


def test_skipped_queries_are_ignored() -> None:
    # a skipped query of identity 7 and an identity (4) whose only query is skipped change nothing
    ap = np.array([1.0, np.nan, 1.0, 1.0, 0.0, np.nan])
    first_hit = np.array([0, -1, 0, 0, 3, -1])
    pids = np.array([7, 7, 7, 7, 9, 4])
    with_skipped, without = bootstrap_draws(ap, first_hit, pids), bootstrap_draws(AP, FIRST_HIT, PIDS)
    np.testing.assert_array_equal(with_skipped.mAP, without.mAP)
    np.testing.assert_array_equal(with_skipped.rank1, without.rank1)


def random_case(seed: int, identities: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1–5 queries per identity, AP and first hit correlated within an identity, 5 % skipped."""
    rng = np.random.default_rng(seed)
    pids = np.repeat(np.arange(identities) * 3 + 1, rng.integers(1, 6, identities))
    ease = rng.random(identities)[pids // 3]
    ap = np.clip(ease + 0.1 * rng.standard_normal(len(pids)), 0, 1)
    first_hit = np.where(rng.random(len(pids)) < ease, 0, rng.integers(1, 20, len(pids)))
    skipped = rng.random(len(pids)) < 0.05
    ap[skipped], first_hit[skipped] = np.nan, -1
    return ap, first_hit, pids


def test_same_seed_same_draws_other_seed_other_draws() -> None:
    case = random_case(0)
    a, b, c = bootstrap_draws(*case, seed=3), bootstrap_draws(*case, seed=3), bootstrap_draws(*case, seed=[3, 1])
    np.testing.assert_array_equal(a.mAP, b.mAP)
    np.testing.assert_array_equal(a.rank1, b.rank1)
    assert not np.array_equal(a.mAP, c.mAP)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_interval_contains_the_point_estimate(seed: int) -> None:
    ap, first_hit, pids = random_case(seed)
    valid = first_hit >= 0
    point = {"mAP": ap[valid].mean(), "rank1": (first_hit[valid] == 0).mean()}
    draws = bootstrap_draws(ap, first_hit, pids, draws=500)
    assert len(draws.mAP) == len(draws.rank1) == 500
    for name, ci in draws.intervals().items():
        assert ci.low < point[name] < ci.high
        assert ci.high - ci.low < 0.25  # 200 identities: a few points either side, not the whole range
    narrow, wide = draws.intervals(0.5)["mAP"], draws.intervals()["mAP"]
    assert wide.low < narrow.low < narrow.high < wide.high


def test_the_average_interval_comes_from_the_averaged_draws() -> None:
    # target 1: every AP 0.5 (every draw 0.5); target 2: the two-identity case (draws 0, 3/4, 1)
    flat = bootstrap_draws(np.full(3, 0.5), np.zeros(3, dtype=np.int64), np.arange(3))
    mixed = bootstrap_draws(AP, FIRST_HIT, PIDS)
    mean = average_draws([flat, mixed])
    np.testing.assert_array_equal(mean.mAP, (0.5 + mixed.mAP) / 2)
    np.testing.assert_array_equal(mean.rank1, (1.0 + mixed.rank1) / 2)
    assert mean.intervals()["mAP"] == Interval(0.25, 0.75)
    with pytest.raises(ValueError, match="different draw counts"):
        average_draws([flat, bootstrap_draws(AP, FIRST_HIT, PIDS, draws=10)])


def test_msmt17_scale_shapes() -> None:
    # 11,659 queries of 3,060 identities, as MSMT17's query set (the timing is in the module docstring)
    rng = np.random.default_rng(0)
    pids = np.sort(np.concatenate([np.arange(3060), rng.integers(0, 3060, 11659 - 3060)]))
    draws = bootstrap_draws(rng.random(11659), rng.integers(0, 30, 11659), pids)
    assert draws.mAP.shape == draws.rank1.shape == (1000,)
    assert np.isfinite(draws.mAP).all() and ((draws.rank1 >= 0) & (draws.rank1 <= 1)).all()


@pytest.mark.parametrize(("args", "fields", "message"), [
    ((AP[:3], FIRST_HIT, PIDS), {}, "one length"),
    ((AP, FIRST_HIT, PIDS), {"draws": 0}, "draws >= 1"),
    ((np.full(2, np.nan), np.full(2, -1), np.arange(2)), {}, "no valid query"),
])
def test_bad_input_is_refused(args: tuple, fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bootstrap_draws(*args, **fields)


def test_level_is_checked() -> None:
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\)"):
        BootstrapDraws(np.zeros(3), np.zeros(3)).intervals(95)
