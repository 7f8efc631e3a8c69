"""Mask IoU against voted ground-truth boxes, checked on hand-built cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reid.evaluation.mask_iou import box_mask_iou, mask_iou
from reid.masks.grid import PatchGrid
from reid.masks.voting import vote
from tests.evaluation.helpers import demo_encoder

PARTS = ("head", "upper", "legs")
GRID = PatchGrid()  # 256x128, patch 16: 16 rows x 8 columns
# head: rows 0-2, columns 2-5 (12 patches); upper: rows 3-8 (48); legs: rows 9-15 (56)
BOXES = np.array([[[0.25, 0.0, 0.75, 3 / 16], [0.0, 3 / 16, 1.0, 9 / 16], [0.0, 9 / 16, 1.0, 1.0]]])


def test_model_grid_follows_the_config() -> None:
    assert demo_encoder().config.grid == GRID


def test_prediction_equal_to_the_voted_truth_scores_one() -> None:
    truth = vote(BOXES, GRID)
    assert truth.sum(axis=-1).tolist() == [[12, 48, 56]]
    assert box_mask_iou(truth, BOXES, GRID, PARTS) == {"head": 1.0, "upper": 1.0, "legs": 1.0, "mean": 1.0}


def test_disjoint_prediction_scores_zero() -> None:
    truth = vote(BOXES, GRID)
    assert box_mask_iou(~truth, BOXES, GRID, PARTS) == {"head": 0.0, "upper": 0.0, "legs": 0.0, "mean": 0.0}
    # each part predicted where the next one is: disjoint again
    assert box_mask_iou(np.roll(truth, 1, axis=1), BOXES, GRID, PARTS)["mean"] == 0.0


def test_partial_overlap_and_mean_over_images() -> None:
    truth = np.zeros((2, 1, 8), bool)
    truth[:, 0, :4] = True
    pred = np.zeros_like(truth)
    pred[0, 0, 2:6] = True  # 2 shared of 6 in the union: 1/3
    pred[1, 0, :4] = True  # exact: 1
    assert mask_iou(pred, truth, ("head",)) == pytest.approx({"head": 2 / 3, "mean": 2 / 3})


def test_empty_pairs_and_missing_boxes_are_skipped() -> None:
    truth = vote(BOXES, GRID)
    boxes = np.concatenate([BOXES, BOXES])
    boxes[1, 0] = [0.26, 0.01, 0.3, 0.02]  # a head box holding no patch centre: both masks empty there
    boxes[1, 1] = math.nan  # no true upper body: that image's prediction is not scored
    pred = np.concatenate([truth, np.zeros_like(truth)])
    pred[1, 2] = truth[0, 2]
    # image 1 adds nothing to head and upper; legs stays exact
    assert box_mask_iou(pred, boxes, GRID, PARTS) == {"head": 1.0, "upper": 1.0, "legs": 1.0, "mean": 1.0}
    # a part with no scorable pair at all is left out of the result
    assert mask_iou(np.zeros((1, 3, 8), bool), np.zeros((1, 3, 8), bool), PARTS) == {}


def test_prediction_where_the_truth_is_empty_scores_zero() -> None:
    truth = np.zeros((1, 1, 8), bool)
    pred = truth.copy()
    pred[0, 0, 0] = True
    assert mask_iou(pred, truth, ("legs",)) == {"legs": 0.0, "mean": 0.0}


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"must both be \[N, 3, Npatch\]"):
        mask_iou(np.zeros((1, 3, 8), bool), np.zeros((1, 3, 9), bool), PARTS)
