"""Sanitisation, box choice and calibration rules on crafted distributions."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from reid.grounding.parts import EQUAL_THIRDS
from reid.masks.boxes import collect_boxes, sanitise
from reid.masks.calibration import calibrate, thresholds
from tests.kit.boxes import box_rows
from tests.kit.params import section

PARTS = ("head", "upper", "legs")


def test_sanitise_fixes_and_rejects() -> None:
    boxes = [
        [0.1, 0.1, 0.5, 0.5],  # fine
        [0.5, 0.6, 0.1, 0.2],  # inverted -> swapped
        [-0.2, 0.0, 1.4, 0.5],  # out of range -> clipped
        [np.nan, 0, 1, 1],  # rejected
        [0.3, 0.3, 0.3, 0.9],  # zero width -> rejected
        [1.2, 0.0, 1.5, 0.5],  # entirely right of the image -> zero area after clipping
    ]
    fixed, valid, counts = sanitise(np.array(boxes))
    assert valid.tolist() == [True, True, True, False, False, False]
    np.testing.assert_allclose(fixed[1], [0.1, 0.2, 0.5, 0.6])
    np.testing.assert_allclose(fixed[2], [0.0, 0.0, 1.0, 0.5])
    assert dict(counts) == {"non_finite": 1, "inverted": 1, "clipped": 2, "zero_area": 2}


def test_choose_first_largest_union_and_missing_reasons() -> None:
    store = box_rows([
        ("a", "head", [[0.2, 0.0, 0.4, 0.1], [0.0, 0.0, 1.0, 0.3]], "ok"),
        ("a", "upper", [], "no_box"),
        ("a", "legs", [[np.nan, 0, 1, 1]], "ok"),
        ("b", "head", [], "parse_error"),
    ])
    ids = ["a", "b", "c"]
    first = collect_boxes(store, ids, PARTS, "first")
    np.testing.assert_allclose(first.boxes[0, 0], [0.2, 0.0, 0.4, 0.1])
    np.testing.assert_allclose(collect_boxes(store, ids, PARTS, "largest").boxes[0, 0], [0.0, 0.0, 1.0, 0.3])
    np.testing.assert_allclose(collect_boxes(store, ids, PARTS, "union").boxes[0, 0], [0.0, 0.0, 1.0, 0.3])
    assert first.missing.tolist() == [
        ["", "no_box", "rejected"],
        ["parse_error", "missing", "missing"],  # b has no upper/legs rows at all
        ["missing", "missing", "missing"],
    ]
    with pytest.raises(ValueError, match="calibration.choose must be one of"):
        collect_boxes(store, ids, PARTS, "median")


def test_mad_thresholds_and_minimum_spread() -> None:
    values = np.array([0.20] * 50 + [0.22] * 50 + [1.0, 0.01])
    lo, hi = thresholds(values, section("calibration", mad_k=3.0, min_spread=0.0))
    # median 0.21, MAD 0.01 -> sigma 0.014826, 3 sigma = 0.044478
    assert lo == pytest.approx(0.21 - 0.044478) and hi == pytest.approx(0.21 + 0.044478)
    lo, hi = thresholds(values, section("calibration", mad_k=3.0, min_spread=0.5))
    assert (lo, hi) == (pytest.approx(0.105), pytest.approx(0.315))
    q = thresholds(np.linspace(0, 1, 101), section("calibration", rule="quantile", quantiles=[0.1, 0.9]))
    assert q == (pytest.approx(0.1), pytest.approx(0.9))


def _boxes_with_outliers(n: int = 100) -> tuple[pl.DataFrame, list[str]]:
    rng = np.random.default_rng(0)
    rows, ids = [], []
    for i in range(n):
        ids.append(f"img{i}")
        top = 0.02 + 0.01 * rng.random()
        head = [0.3, top, 0.7, top + 0.15 + 0.01 * rng.random()]
        if i < 5:
            head = [0.0, 0.0, 1.0, 1.0]  # hallucinated whole body
        elif i < 10:
            head = [0.3, top, 0.7, top + 0.015]  # over-split sliver
        rows += [(f"img{i}", "head", [head], "ok"),
                 (f"img{i}", "upper", [[0.2, 0.2, 0.8, 0.55]], "ok"),
                 (f"img{i}", "legs", [[0.25, 0.5, 0.75, 0.98]] if i != 99 else [], "ok" if i != 99 else "no_box")]
    return box_rows(rows), ids


def test_calibration_replaces_outliers_with_learnt_stripes() -> None:
    store, ids = _boxes_with_outliers()
    raw = collect_boxes(store, ids, PARTS)
    cal = calibrate(raw, section("calibration"))
    head_reasons = cal.reason[:, 0].tolist()
    assert head_reasons[:5] == ["too_large"] * 5 and head_reasons[5:10] == ["too_small"] * 5
    assert set(head_reasons[10:]) == {""}
    assert cal.reason[99, 2] == "no_box" and set(cal.reason[:99, 2]) == {""} and set(cal.reason[:, 1]) == {""}
    top, bottom = cal.windows["head"]  # medians of the good head boxes
    assert 0.02 <= top <= 0.03 and 0.17 <= bottom <= 0.19
    np.testing.assert_allclose(cal.boxes[0, 0], [0.0, top, 1.0, bottom])
    np.testing.assert_allclose(cal.boxes[99, 2], [0.0, 0.5, 1.0, 0.98])
    np.testing.assert_allclose(cal.boxes[50], raw.boxes[50])  # good boxes untouched


def test_disabled_calibration_keeps_raw_boxes_and_missing_ones() -> None:
    store, ids = _boxes_with_outliers()
    raw = collect_boxes(store, ids, PARTS)
    cal = calibrate(raw, section("calibration", enabled=False))
    np.testing.assert_array_equal(cal.boxes, raw.boxes)
    assert np.isnan(cal.boxes[99, 2]).all()


def test_too_few_good_boxes_fall_back_to_equal_thirds_or_configured_windows() -> None:
    store = box_rows([("a", "head", [], "no_box")])
    cal = calibrate(collect_boxes(store, ["a"], PARTS), section("calibration"))
    np.testing.assert_allclose(cal.boxes[0, 1], [0.0, EQUAL_THIRDS["upper"][0], 1.0, EQUAL_THIRDS["upper"][1]])
    windows = {"head": (0.0, 0.2), "upper": (0.2, 0.6), "legs": (0.5, 1.0)}
    cal = calibrate(collect_boxes(store, ["a"], PARTS), section("calibration", stripe_windows=windows))
    np.testing.assert_allclose(cal.boxes[0, 2], [0.0, 0.5, 1.0, 1.0])
