"""`apply_augment`: the training augmentations of one resized image and its part masks."""

import cv2
import numpy as np
import torch

from reid.data.loading import apply_augment
from reid.masks.grid import PatchGrid
from reid.masks.voting import flip_masks
from tests.kit.params import section

GRID = PatchGrid(64, 32, 16, 16)  # 4 x 2 patches


def coloured_image(seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(64, 32, 3), dtype=np.uint8)


def left_column_masks():
    masks = torch.zeros(3, 8, dtype=torch.bool)
    masks[0, 0::2] = True
    return masks


def augment(**keys):
    return section("train.augment", **keys)


def test_with_the_new_keys_at_zero_flip_and_crop_are_the_hand_computed_ones():
    keys = augment(flip=0.5, random_crop=True, crop_pad=4, random_erasing=0.0,
                   grayscale=0.0, color_jitter=0.0, augmix=0.0)
    rgb, masks = coloured_image(), left_column_masks()
    flipped_some = set()
    for index in range(12):
        out, out_masks = apply_augment(rgb, masks, keys, GRID, np.random.default_rng([7, 0, index]))
        expected = np.random.default_rng([7, 0, index])  # the draws as they were: (flip, crop, erase), offsets
        flip, _, _ = expected.random(3)
        dy, dx = expected.integers(0, 9, size=2)
        image = rgb[:, ::-1] if flip < 0.5 else rgb
        padded = np.zeros((72, 40, 3), dtype=np.uint8)
        padded[4:68, 4:36] = image
        assert np.array_equal(out, padded[dy : dy + 64, dx : dx + 32])
        assert torch.equal(out_masks, flip_masks(masks, GRID) if flip < 0.5 else masks)
        flipped_some.add(bool(flip < 0.5))
    assert flipped_some == {True, False}


def test_with_the_new_keys_at_zero_no_further_number_is_drawn():
    rgb, masks = coloured_image(), left_column_masks()
    off = augment(flip=0.5, random_crop=False, random_erasing=0.0, grayscale=0.0, color_jitter=0.0, augmix=0.0)
    used = np.random.default_rng(3)
    apply_augment(rgb, masks, off, GRID, used)
    assert used.random() == np.random.default_rng(3).random(4)[3]  # only (flip, crop, erase), as before
    on = augment(flip=0.5, random_crop=False, random_erasing=0.0, grayscale=0.5, color_jitter=0.0, augmix=0.0)
    more = np.random.default_rng(3)
    apply_augment(rgb, masks, on, GRID, more)
    assert more.random() == np.random.default_rng(3).random(5)[4]  # the grayscale decision comes after


def test_grayscale_makes_the_channels_equal_and_leaves_the_masks():
    keys = augment(flip=0.0, random_crop=False, random_erasing=0.0, grayscale=1.0, color_jitter=0.0, augmix=0.0)
    rgb, masks = coloured_image(), left_column_masks()
    out, out_masks = apply_augment(rgb, masks, keys, GRID, np.random.default_rng(0))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert np.array_equal(out[..., 0], cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    assert not np.array_equal(out, rgb)
    assert torch.equal(out_masks, masks)


def test_augmix_is_reproducible_from_the_rng_and_leaves_torchs_generator_alone():
    keys = augment(flip=0.0, random_crop=False, random_erasing=0.0, grayscale=0.0, color_jitter=0.0, augmix=1.0)
    rgb, masks = coloured_image(), left_column_masks()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first, first_masks = apply_augment(rgb, masks, keys, GRID, np.random.default_rng([0, 0, 5]))
    again, _ = apply_augment(rgb, masks, keys, GRID, np.random.default_rng([0, 0, 5]))
    other, _ = apply_augment(rgb, masks, keys, GRID, np.random.default_rng([0, 1, 5]))
    assert torch.equal(torch.get_rng_state(), before)
    assert first.shape == rgb.shape and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, rgb)
    assert torch.equal(first_masks, masks)


def test_colour_jitter_is_reproducible_and_changes_the_image():
    keys = augment(flip=0.0, random_crop=False, random_erasing=0.0, grayscale=0.0, color_jitter=1.0, augmix=0.0)
    rgb, masks = coloured_image(), left_column_masks()
    before = torch.get_rng_state()
    first, first_masks = apply_augment(rgb, masks, keys, GRID, np.random.default_rng(9))
    again, _ = apply_augment(rgb, masks, keys, GRID, np.random.default_rng(9))
    assert torch.equal(torch.get_rng_state(), before)
    assert np.array_equal(first, again) and not np.array_equal(first, rgb)
    assert torch.equal(first_masks, masks)


def test_masks_without_patches_pass_a_flip():
    keys = augment(flip=1.0, random_crop=False, random_erasing=0.0, grayscale=0.0, color_jitter=0.0, augmix=0.0)
    rgb = coloured_image()
    out, out_masks = apply_augment(rgb, torch.zeros(3, 0, dtype=torch.bool), keys, GRID, np.random.default_rng(0))
    assert np.array_equal(out, rgb[:, ::-1])
    assert out_masks.shape == (3, 0)
