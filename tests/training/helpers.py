"""A tiny training set on disk (images, manifest, masks) and a tiny MUVA config, for fast training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reid.masks.store import write_masks
from reid.model.configs import MuvaConfig
from reid.utils.images import write_image
from tests.kit.clip import IMAGE_SIZE, TINY_CLIP
from tests.kit.manifests import manifest_rows


def tiny_config(num_classes: int, **fields) -> MuvaConfig:
    return MuvaConfig(num_classes=num_classes, backbone="demo", clip=TINY_CLIP, image_size=IMAGE_SIZE, **fields)


def tiny_model_params(**fields) -> dict:
    """A params.yaml `model` section for the tiny model (the clip config passed explicitly)."""
    return {"backbone": "demo", "clip": TINY_CLIP, "image_size": list(IMAGE_SIZE), "pretrained": None, **fields}


def write_training_set(root: Path, ids: int = 8, per_id: int = 4, domains: int = 1, seed: int = 0) -> tuple[Path, Path]:
    """Images of `ids` identities (a colour per identity, noise per image), train.parquet and masks.parquet.

    Masks: head = top patch row, upper = middle rows, legs = bottom row of the 4 x 2 grid.
    Returns (train_path, masks_path).
    """
    rng = np.random.default_rng(seed)
    relpaths, labels = [], []
    for label in range(ids):
        colour = rng.integers(0, 256, size=3)
        for k in range(per_id):
            image = np.clip(colour + rng.normal(0, 20, size=(64, 32, 3)), 0, 255).astype(np.uint8)
            relpaths.append(f"train/{label:04d}_{k}.png")
            labels.append(label)
            write_image(root / relpaths[-1], image)
    train = manifest_rows(relpaths, root=root, pids=labels, domain=[label * domains // ids for label in labels])
    train_path = root / "train.parquet"
    train.write_parquet(train_path)
    masks = np.zeros((train.height, 3, 8), dtype=bool)
    masks[:, 0, 0:2] = True
    masks[:, 1, 2:6] = True
    masks[:, 2, 6:8] = True
    masks_path = root / "masks.parquet"
    write_masks(masks_path, train["image_id"].to_list(), masks, {"rows": 4, "cols": 2})
    return train_path, masks_path


def tiny_train_configs(**stage2):
    """(TrainConfig, Stage1Config, Stage2Config) that train the tiny model in a second or two."""
    from reid.training.config import Stage1Config, Stage2Config, TrainConfig

    train = TrainConfig(ids_per_batch=4, images_per_id=2, workers=0, memory_batch_size=16)
    stage1 = Stage1Config(epochs=2, lr=1e-3, warmup_epochs=1)
    return train, stage1, Stage2Config(**{"epochs": 3, "lr": 1e-3, "milestones": (2,), **stage2})
