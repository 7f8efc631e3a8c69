"""Helpers for the model tests: the small demo model (random init) and inputs for it."""

from __future__ import annotations

import torch

from reid.model.configs import MuvaConfig
from reid.model.muva import MuvaModel, build_muva
from tests.kit.params import muva

PATCH = 16
GRID = (16, 8)  # 256x128 input, patch 16
N_PATCHES = GRID[0] * GRID[1]


def demo_config(num_classes: int = 6, **fields) -> MuvaConfig:
    """The demo backbone at 256x128 (`fields`: keys of the `model` section, or sources and class_domains)."""
    return muva(num_classes, **{"backbone": "demo", "image_size": [256, 128], **fields})


def demo_model(**fields) -> MuvaModel:
    torch.manual_seed(0)
    return build_muva(demo_config(**fields)).eval()


def random_images(batch: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, 256, 128, generator=torch.Generator().manual_seed(seed))


def row_masks(batch: int) -> torch.Tensor:
    """Pseudo-label masks G [B, 3, Npatch]: head = rows 0-3, upper = rows 4-9, legs = rows 10-15."""
    rows = torch.arange(N_PATCHES) // GRID[1]
    masks = torch.stack([rows < 4, (rows >= 4) & (rows < 10), rows >= 10]).float()
    return masks.expand(batch, -1, -1).clone()


def patch_pixels(patch: int) -> tuple[slice, slice]:
    """Pixel rows/columns of patch `patch` (row-major over the grid)."""
    r, c = divmod(patch, GRID[1])
    return slice(r * PATCH, (r + 1) * PATCH), slice(c * PATCH, (c + 1) * PATCH)


