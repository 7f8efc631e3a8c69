"""A tiny training set on disk (images, manifest, masks), for fast training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reid.masks.store import write_masks
from reid.utils.images import write_image
from tests.kit.manifests import manifest_rows


def write_training_set(root: Path, ids: int = 8, per_id: int = 4, domains: int = 1, seed: int = 0,
                       cameras: int = 1) -> tuple[Path, Path]:
    """Images of `ids` identities (a colour per identity, noise per image), train.parquet and masks.parquet.

    Image k of an identity is seen by camera k % `cameras` of its domain.
    Masks: head = top patch row, upper = middle rows, legs = bottom row of the 4 x 2 grid.
    Returns (train_path, masks_path).
    """
    rng = np.random.default_rng(seed)
    relpaths, labels, camids = [], [], []
    for label in range(ids):
        colour = rng.integers(0, 256, size=3)
        for k in range(per_id):
            image = np.clip(colour + rng.normal(0, 20, size=(64, 32, 3)), 0, 255).astype(np.uint8)
            relpaths.append(f"train/{label:04d}_{k}.png")
            labels.append(label)
            camids.append(k % cameras)
            write_image(root / relpaths[-1], image)
    train = manifest_rows(relpaths, root=root, pids=labels, camids=camids, domain=[label * domains // ids for label in labels])
    train_path = root / "train.parquet"
    train.write_parquet(train_path)
    masks = np.zeros((train.height, 3, 8), dtype=bool)
    masks[:, 0, 0:2] = True
    masks[:, 1, 2:6] = True
    masks[:, 2, 6:8] = True
    masks_path = root / "masks.parquet"
    write_masks(masks_path, train["image_id"].to_list(), masks, {"rows": 4, "cols": 2})
    return train_path, masks_path
