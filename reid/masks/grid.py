"""The one patch-grid helper: where the ViT's patches fall on the (resized) input image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PatchGrid:
    """Patches of a `height`×`width` input cut with `patch`-sized windows every `stride` pixels.

    256×128 with patch = stride = 16 gives 16 rows × 8 columns = 128 patches, flattened
    row-major (the ViT's token order).
    """

    height: int = 256
    width: int = 128
    patch: int = 16
    stride: int = 16

    def __post_init__(self) -> None:
        if self.patch <= 0 or self.stride <= 0 or self.height < self.patch or self.width < self.patch:
            raise ValueError(f"invalid patch grid {self}: need 0 < patch <= image size and stride > 0")

    @property
    def rows(self) -> int:
        return (self.height - self.patch) // self.stride + 1

    @property
    def cols(self) -> int:
        return (self.width - self.patch) // self.stride + 1

    @property
    def num_patches(self) -> int:
        return self.rows * self.cols

    def cells(self) -> np.ndarray:
        """Normalised (x0, y0, x1, y1) of every patch, row-major: [Npatch, 4]."""
        r, c = np.meshgrid(np.arange(self.rows), np.arange(self.cols), indexing="ij")
        x0 = c.ravel() * self.stride / self.width
        y0 = r.ravel() * self.stride / self.height
        return np.stack([x0, y0, x0 + self.patch / self.width, y0 + self.patch / self.height], axis=1)
