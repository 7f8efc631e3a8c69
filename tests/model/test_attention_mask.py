import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reid.model.attention_mask import (
    build_attention_mask,
    gate_predicted_masks,
    stripe_part_masks,
)
from tests.kit.strategies import seeds

X = float("-inf")


def test_hand_built_two_parts_four_patches():
    # part 1 = patches 1-2, part 2 = patch 3, patch 4 in no part; second sample: part 2 empty
    parts = torch.tensor(
        [
            [[1, 1, 0, 0], [0, 0, 1, 0]],
            [[0, 1, 1, 1], [0, 0, 0, 0]],
        ],
        dtype=torch.bool,
    )
    #                      CLS  l1  l2  p1  p2  p3  p4
    expected_0 = torch.tensor(
        [
            [0, 0, 0, 0, 0, 0, 0],  # CLS
            [0, 0, X, 0, 0, X, X],  # local 1
            [0, X, 0, X, X, 0, X],  # local 2
            [0, 0, X, 0, 0, 0, 0],  # patch 1
            [0, 0, X, 0, 0, 0, 0],  # patch 2
            [0, X, 0, 0, 0, 0, 0],  # patch 3
            [0, X, X, 0, 0, 0, 0],  # patch 4
        ]
    )
    expected_1 = torch.tensor(
        [
            [0, 0, 0, 0, 0, 0, 0],
            [0, 0, X, X, 0, 0, 0],
            [0, X, 0, X, X, X, X],  # empty part: CLS and itself only
            [0, X, X, 0, 0, 0, 0],
            [0, 0, X, 0, 0, 0, 0],
            [0, 0, X, 0, 0, 0, 0],
            [0, 0, X, 0, 0, 0, 0],
        ]
    )
    mask = build_attention_mask(parts)
    assert mask.dtype == torch.float32 and mask.shape == (2, 7, 7)
    assert torch.equal(mask[0], expected_0)
    assert torch.equal(mask[1], expected_1)


def test_mask_follows_requested_dtype():
    parts = torch.ones(1, 3, 5, dtype=torch.bool)
    assert build_attention_mask(parts, torch.bfloat16).dtype == torch.bfloat16


@settings(max_examples=50, deadline=None)
@given(
    n_parts=st.integers(1, 3),
    n_patches=st.integers(1, 12),
    batch=st.integers(1, 3),
    seed=seeds,
)
def test_structure_for_any_part_masks(n_parts, n_patches, batch, seed):
    generator = torch.Generator().manual_seed(seed)
    parts = torch.rand(batch, n_parts, n_patches, generator=generator) < 0.4
    parts[0, 0] = False  # always include an empty part
    mask = build_attention_mask(parts)
    open_ = mask == 0
    assert torch.isin(mask, torch.tensor([0.0, X])).all()
    assert open_.any(dim=-1).all(), "a row is all -inf"
    assert open_[:, 0].all() and open_[:, :, 0].all(), "CLS must see and be seen by everything"
    locals_, patches = slice(1, 1 + n_parts), slice(1 + n_parts, None)
    assert torch.equal(open_[:, locals_, locals_], torch.eye(n_parts, dtype=torch.bool).expand(batch, -1, -1))
    assert torch.equal(open_[:, locals_, patches], parts)
    assert torch.equal(open_[:, patches, locals_], parts.transpose(1, 2))
    assert open_[:, patches, patches].all()


def test_gating_is_a_strict_threshold_on_the_sigmoid_without_gradient():
    logits = torch.tensor([[[-1.0, 0.0, 0.5, 3.0]]], requires_grad=True)
    assert gate_predicted_masks(logits, 0.5).tolist() == [[[False, False, True, True]]]
    assert gate_predicted_masks(logits, 0.9).tolist() == [[[False, False, False, True]]]
    assert not gate_predicted_masks(logits, 0.5).requires_grad


def test_stripes_are_row_major_thirds_of_the_height():
    stripes = stripe_part_masks((16, 8))
    assert stripes.shape == (3, 128) and stripes.dtype == torch.bool
    assert stripes.sum(dim=1).tolist() == [40, 48, 40]  # 5, 6, 5 rows of 8 patches: symmetric
    assert torch.equal(stripes.sum(dim=0), torch.ones(128, dtype=torch.long))
    assert stripes[0, :40].all() and stripes[1, 40:88].all() and stripes[2, 88:].all()


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 7, 8, 12, 16, 21, 24])
def test_stripes_cover_every_row_once_and_mirror_top_to_bottom(rows):
    stripes = stripe_part_masks((rows, 2)).reshape(3, rows, 2)
    assert torch.equal(stripes.sum(dim=0), torch.ones(rows, 2, dtype=torch.long))
    assert torch.equal(stripes.flip(0).flip(1), stripes)  # head mirrors legs, the middle third itself


def test_stripe_attention_equals_the_stripes_mode_masks_on_the_same_grid():
    from reid.grounding.parts import EQUAL_THIRDS
    from reid.masks.grid import PatchGrid
    from reid.masks.run import PARTS
    from reid.masks.voting import stripe_boxes, vote

    for grid in (PatchGrid(256, 128, 16, 16), PatchGrid(64, 32, 16, 16), PatchGrid(384, 128, 16, 16)):
        g = vote(stripe_boxes(1, EQUAL_THIRDS, PARTS), grid, "centre")[0]  # what `masks.mode: stripes` writes as G
        assert torch.equal(stripe_part_masks((grid.rows, grid.cols)), torch.from_numpy(g))
        assert torch.equal(stripe_part_masks(grid), torch.from_numpy(g))
