"""Manifest rows → model-ready tensors: the one image preprocessing of training and evaluation.

Preprocessing follows the paper: bicubic resize to the model's input size, pixel mean/std
0.5/0.5.  Training adds a horizontal flip applied to the image *and* its part masks G
together, and, as switches (off by default, paper Table 11), random crop with padding and
random erasing.  Also off by default, the photometric augmentations of CLIP-FGDI's official
code (`datasets/trans/build_trans.py`): grayscale, colour jitter and AugMix, each with a
probability, applied after flip and crop and before erasing; they leave the masks alone.
Random draws are a pure function of (seed, epoch, row): an epoch replays identically whatever
the number of loader workers or a resume in between.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

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


# CLIP-FGDI's settings (build_trans.py): `ColorJitter(0.15, 0.1, 0.05, 0.05)` under RandomApply, and
# fast-reid's AugMix (alpha 0.1, width 3, depth 1, severity 1, no colour/contrast/brightness/
# sharpness ops), here torchvision's AugMix with those settings.
COLOR_JITTER = v2.ColorJitter(brightness=0.15, contrast=0.1, saturation=0.05, hue=0.05)
AUGMIX = v2.AugMix(severity=1, mixture_width=3, chain_depth=1, alpha=0.1, all_ops=False)


def apply_augment(
    rgb: np.ndarray, masks: torch.Tensor, augment: Augment, grid: PatchGrid, rng: np.random.Generator
) -> tuple[np.ndarray, torch.Tensor]:
    """Augment a resized uint8 image [H, W, 3] and its masks [P, Npatch] (Npatch 0: no part masks).

    Applied in order: flip, crop, grayscale, colour jitter, AugMix, erasing.  Only the flip moves
    masks (crop shifts by at most a fraction of a patch, erasing hides pixels, not parts, the
    photometric ones change colours; AugMix's small rotate / shear / translate at severity 1 are
    ignored too).  Every draw comes from `rng`, in a fixed order: the flip / crop / erase
    decisions, the crop offsets, the erasing rectangle, and only then the photometric decisions
    (each drawn only when its probability is > 0), so with those at 0 the stream, and the result,
    are what they were before they existed.
    """
    flip, crop, erase = rng.random(3)
    if flip < augment.flip:
        rgb = rgb[:, ::-1]
        if masks.shape[-1] > 0:  # a method without part masks has [P, 0]
            masks = flip_masks(masks, grid)
    if augment.random_crop and augment.crop_pad > 0:
        pad = augment.crop_pad
        height, width = rgb.shape[:2]
        padded = cv2.copyMakeBorder(np.ascontiguousarray(rgb), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        dy, dx = rng.integers(0, 2 * pad + 1, size=2)
        rgb = padded[dy : dy + height, dx : dx + width]
    box = _erase_box(rgb.shape[:2], rng) if erase < augment.random_erasing else None
    grayscale = augment.grayscale > 0 and rng.random() < augment.grayscale
    jitter = augment.color_jitter > 0 and rng.random() < augment.color_jitter
    jitter_seed = _torch_seed(rng) if jitter else None
    augmix = augment.augmix > 0 and rng.random() < augment.augmix
    augmix_seed = _torch_seed(rng) if augmix else None
    if grayscale:
        rgb = cv2.cvtColor(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    if jitter_seed is not None:
        rgb = _torch_transform(COLOR_JITTER, rgb, jitter_seed)
    if augmix_seed is not None:
        rgb = _torch_transform(AUGMIX, rgb, augmix_seed)
    if box is not None:
        rgb = np.array(rgb)
        (y, x), pixels = box
        rgb[y : y + pixels.shape[0], x : x + pixels.shape[1]] = pixels
    return rgb, masks


def _erase_box(shape: tuple[int, int], rng: np.random.Generator) -> tuple[tuple[int, int], np.ndarray] | None:
    """Random erasing (Zhong et al.): a rectangle of 2-40 % of the area, aspect 0.3-3.3, random
    pixels, as ((y, x), pixels [h, w, 3]); None when 10 tries find no rectangle that fits."""
    height, width = shape
    for _ in range(10):
        area = rng.uniform(0.02, 0.4) * height * width
        aspect = np.exp(rng.uniform(np.log(0.3), np.log(1 / 0.3)))
        h, w = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
        if 0 < h < height and 0 < w < width:
            y, x = rng.integers(0, height - h), rng.integers(0, width - w)
            return (int(y), int(x)), rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    return None


def _torch_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**63 - 1))


@contextmanager
def _seeded_torch(seed: int) -> Iterator[None]:
    """torch's global CPU generator seeded with `seed` inside, restored on exit.  Only the CPU
    generator is forked and seeded (torch.manual_seed would also seed CUDA's, unrestored, and
    forking CUDA's would initialise CUDA in a loader worker); the transforms run on CPU tensors."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


def _torch_transform(transform, rgb: np.ndarray, seed: int) -> np.ndarray:
    """A torchvision transform, whose draws come from torch's global generator, on a uint8
    image [H, W, 3] (as a uint8 [3, H, W] tensor), reproducibly from `seed`."""
    chw = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
    with _seeded_torch(seed):
        out = transform(chw)
    return out.permute(1, 2, 0).contiguous().numpy()


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
