"""Voting on the patch grid: hand-computed cases, rules, flips, stripes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.grounding.parts import EQUAL_THIRDS
from reid.masks.grid import PatchGrid
from reid.masks.voting import flip_boxes, flip_masks, stripe_boxes, vote

GRID = PatchGrid(256, 128, 16, 16)  # 16 rows x 8 cols
SMALL = PatchGrid(4, 4, 2, 2)  # 2x2 patches: centres at 0.25 and 0.75


def _cells(mask: np.ndarray, grid: PatchGrid) -> set[tuple[int, int]]:
    rows, cols = np.nonzero(mask.reshape(grid.rows, grid.cols))
    return set(zip(rows.tolist(), cols.tolist()))


def test_grid_shape_and_cells() -> None:
    assert (GRID.rows, GRID.cols, GRID.num_patches) == (16, 8, 128)
    assert PatchGrid(256, 128, 16, 12).rows == 21  # overlapping patches: (256 - 16) // 12 + 1
    np.testing.assert_allclose(SMALL.cells(), [[0, 0, .5, .5], [.5, 0, 1, .5], [0, .5, .5, 1], [.5, .5, 1, 1]])


def test_centre_rule_hand_computed() -> None:
    # head box covering the top 3 patch rows fully and half the 4th: centres at (r + 0.5) / 16
    box = np.array([[[0.0, 0.0, 1.0, 3.5 / 16]]])
    assert _cells(vote(box, GRID)[0, 0], GRID) == {(r, c) for r in range(4) for c in range(8)}
    # a box whose edge lies exactly on a patch centre includes that patch (edges inclusive)
    edge = np.array([[[0.0, 0.0, 0.25, 0.25]]])
    assert _cells(vote(edge, SMALL)[0, 0], SMALL) == {(0, 0)}
    # a box ending on a patch boundary (x1 = 0.5) excludes the next column
    half = np.array([[[0.0, 0.0, 0.5, 1.0]]])
    assert _cells(vote(half, SMALL)[0, 0], SMALL) == {(0, 0), (1, 0)}


def test_tiny_box_between_centres_votes_nothing_but_coverage_can() -> None:
    tiny = np.array([[[0.30, 0.30, 0.45, 0.45]]])  # inside patch (0, 0), misses its centre
    assert not vote(tiny, SMALL)[0, 0].any()
    assert _cells(vote(tiny, SMALL, "coverage", 0.05)[0, 0], SMALL) == {(0, 0)}  # covers 9% of the patch
    assert not vote(tiny, SMALL, "coverage", 0.10)[0, 0].any()


def test_whole_image_and_missing_boxes() -> None:
    boxes = np.array([[[0, 0, 1, 1], [np.nan] * 4, [0.5, 0.5, 1, 1]]])
    masks = vote(boxes, GRID)
    assert masks.shape == (1, 3, 128) and masks.dtype == bool
    assert masks[0, 0].all() and not masks[0, 1].any()
    assert masks[0, 2].sum() == 8 * 4  # bottom half rows 8..15, right half cols 4..7


def test_coverage_rule_counts_the_covered_fraction() -> None:
    box = np.array([[[0.0, 0.0, 0.375, 1.0]]])  # covers 75 % of each column-0 patch (0..0.375 of 0..0.5)
    assert _cells(vote(box, SMALL, "coverage", 0.75)[0, 0], SMALL) == {(0, 0), (1, 0)}
    assert not vote(box, SMALL, "coverage", 0.8)[0, 0].any()
    narrow = np.array([[[0.0, 0.0, 0.2, 1.0]]])  # 40 % of column 0
    assert _cells(vote(narrow, SMALL, "coverage", 0.4)[0, 0], SMALL) == {(0, 0), (1, 0)}
    assert not vote(narrow, SMALL, "coverage", 0.5)[0, 0].any()


def test_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="masks.rule must be one of"):
        vote(np.zeros((1, 1, 4)), GRID, "majority")


def test_stripes_mode_equal_thirds() -> None:
    masks = vote(stripe_boxes(2, EQUAL_THIRDS, ("head", "upper", "legs")), GRID)
    rows = [sorted({r for r, _ in _cells(masks[0, j], GRID)}) for j in range(3)]
    assert rows == [list(range(5)), list(range(5, 11)), list(range(11, 16))]  # centres (r+.5)/16 vs 1/3, 2/3
    assert (masks[0] == masks[1]).all() and masks[0].sum(axis=0).max() == 1


_coord = st.integers(0, 1000).map(lambda v: v / 1000)  # CogVLM's 1/1000 resolution


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_coord, _coord, _coord, _coord), min_size=3, max_size=3), st.sampled_from(["centre", "coverage"]))
def test_flipping_the_mask_equals_voting_the_flipped_boxes(raw, rule) -> None:
    boxes = np.array([[[min(a, c), min(b, d), max(a, c), max(b, d)] for a, b, c, d in raw]])
    direct = vote(flip_boxes(boxes), GRID, rule, 0.5)
    assert (flip_masks(vote(boxes, GRID, rule, 0.5), GRID) == direct).all()


def test_flip_twice_is_identity_for_numpy_and_torch() -> None:
    import torch

    masks = np.random.default_rng(0).random((5, 3, 128)) > 0.5
    assert (flip_masks(flip_masks(masks, GRID), GRID) == masks).all()
    t = torch.from_numpy(masks)
    assert torch.equal(flip_masks(flip_masks(t, GRID), GRID), t)
    assert torch.equal(flip_masks(t, GRID), torch.from_numpy(flip_masks(masks, GRID).copy()))
