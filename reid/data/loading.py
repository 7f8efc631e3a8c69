"""Manifest rows → model-ready tensors: the one image preprocessing of training and evaluation.

Preprocessing follows the paper: bicubic resize to the model's input size, pixel mean/std
0.5/0.5.  Training adds a horizontal flip applied to the image *and* its part masks G
together, and, as switches (off by default, paper Table 11), random crop with padding and
random erasing.  Random draws are a pure function of (seed, epoch, row): an epoch replays
identically whatever the number of loader workers or a resume in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from reid.data.config import Augment
from reid.masks.grid import PatchGrid
from reid.masks.voting import flip_masks
from reid.utils.images import read_image


@dataclass(frozen=True)
class Preprocess:
    """Resize + normalise, as the model's config prescribes."""

    image_size: tuple[int, int]  # (height, width)
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    @classmethod
    def for_model(cls, config) -> Preprocess:
        """The preprocessing a `MuvaConfig` expects."""
        return cls(tuple(config.image_size), tuple(config.pixel_mean), tuple(config.pixel_std))

    def resize(self, rgb: np.ndarray) -> np.ndarray:
        height, width = self.image_size
        if rgb.shape[:2] == (height, width):
            return rgb
        return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_CUBIC)

    def to_tensor(self, rgb: np.ndarray) -> torch.Tensor:
        """RGB uint8 [H, W, 3] at the input size → normalised float32 [3, H, W]."""
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (x - mean) / std

    def __call__(self, rgb: np.ndarray) -> torch.Tensor:
        return self.to_tensor(self.resize(rgb))


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random stream of one sample in one epoch: reproducible across workers and resumes."""
    return np.random.default_rng([seed, epoch, index])


def apply_augment(
    rgb: np.ndarray, masks: torch.Tensor, augment: Augment, grid: PatchGrid, rng: np.random.Generator
) -> tuple[np.ndarray, torch.Tensor]:
    """Augment a resized image and its masks [P, Npatch]; only the flip moves masks (crop
    shifts by at most a fraction of a patch, erasing hides pixels, not parts)."""
    flip, crop, erase = rng.random(3)
    if flip < augment.flip:
        rgb = rgb[:, ::-1]
        masks = flip_masks(masks, grid)
    if augment.random_crop and augment.crop_pad > 0:
        pad = augment.crop_pad
        height, width = rgb.shape[:2]
        padded = cv2.copyMakeBorder(np.ascontiguousarray(rgb), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        dy, dx = rng.integers(0, 2 * pad + 1, size=2)
        rgb = padded[dy : dy + height, dx : dx + width]
    if erase < augment.random_erasing:
        rgb = _erase(np.array(rgb), rng)
    return rgb, masks


def _erase(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random erasing (Zhong et al.): a rectangle of 2-40 % of the area, aspect 0.3-3.3, random pixels."""
    height, width = rgb.shape[:2]
    for _ in range(10):
        area = rng.uniform(0.02, 0.4) * height * width
        aspect = np.exp(rng.uniform(np.log(0.3), np.log(1 / 0.3)))
        h, w = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
        if 0 < h < height and 0 < w < width:
            y, x = rng.integers(0, height - h), rng.integers(0, width - w)
            rgb[y : y + h, x : x + w] = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            break
    return rgb


class ImageSet(Dataset):
    """Images of a manifest, preprocessed, with their row index: (image [3, H, W], index)."""

    def __init__(self, paths: Sequence[str], preprocess: Preprocess) -> None:
        self.paths = list(paths)
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.preprocess(read_image(self.paths[index])), index


class TrainingSet(Dataset):
    """Training images with their labels and pseudo-label masks G, augmented per (seed, epoch).

    Items: (image [3, H, W], masks [3, Npatch] float, label, index).  Set `epoch` before each
    epoch; with `augment=None` images are only preprocessed (memory building).
    """

    def __init__(
        self,
        paths: Sequence[str],
        labels: torch.Tensor,
        masks: torch.Tensor,
        preprocess: Preprocess,
        grid: PatchGrid,
        augment: Augment | None = None,
        seed: int = 0,
    ) -> None:
        if not len(paths) == len(labels) == len(masks):
            raise ValueError(f"{len(paths)} paths, {len(labels)} labels and {len(masks)} masks differ in number")
        self.paths = list(paths)
        self.labels = labels.long()
        self.masks = masks
        self.preprocess = preprocess
        self.grid = grid
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        rgb = self.preprocess.resize(read_image(self.paths[index]))
        masks = self.masks[index]
        if self.augment is not None:
            rgb, masks = apply_augment(rgb, masks, self.augment, self.grid, sample_rng(self.seed, self.epoch, index))
        return self.preprocess.to_tensor(rgb), masks.float(), int(self.labels[index]), index
