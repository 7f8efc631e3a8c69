"""The training inputs: the protocol's training manifest joined with the pseudo-label masks.

Everything is checked before the first step so that a long run never stops hours in on an
input problem: every image has a mask, labels are 0..C-1 with no gap, the masks fit the
model's patch grid (`check_fits`).  Errors name the image and the stage to re-run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import torch

from reid.data.loading import Augment, Preprocess, TrainingSet
from reid.masks.store import read_masks
from reid.model import MuvaConfig


@dataclass(frozen=True)
class TrainingData:
    image_ids: list[str]
    paths: list[str]
    labels: torch.Tensor  # [N] long, 0..C-1
    masks: torch.Tensor  # [N, 3, Npatch] bool (pseudo-label masks G)
    class_domains: list[int]  # [C] domain index of every identity
    num_classes: int

    def dataset(self, config: MuvaConfig, augment: Augment | None = None, seed: int = 0) -> TrainingSet:
        """The images with labels and G masks, preprocessed for `config` (augmented if `augment` is given)."""
        return TrainingSet(self.paths, self.labels, self.masks, Preprocess.for_model(config), config.grid, augment, seed)

    def check_fits(self, num_patches: int) -> None:
        """Fail fast if the masks were voted onto another patch grid than the model's."""
        if self.masks.shape[-1] != num_patches:
            raise ValueError(
                f"the pseudo-label masks have {self.masks.shape[-1]} patches but the model has {num_patches}: "
                f"model.image_size/backbone changed since calibration; re-run `dvc repro calibrate`"
            )


def load_training_data(train_path: str | Path, masks_path: str | Path) -> TrainingData:
    """Join manifest and masks by image_id; check every image has a mask and labels are 0..C-1."""
    train = pl.read_parquet(train_path)
    if train.height == 0:
        raise ValueError(f"{train_path} has no training images: check protocol.source and data.root")
    mask_ids, masks, _ = read_masks(Path(masks_path))
    row_of = {image_id: i for i, image_id in enumerate(mask_ids)}
    missing = [i for i in train["image_id"].to_list() if i not in row_of]
    if missing:
        raise ValueError(
            f"{len(missing)} training images have no pseudo-label mask in {masks_path}, e.g. '{missing[0]}': "
            f"re-run `dvc repro calibrate` (the masks are older than the training manifest)"
        )
    labels = train["label"].to_numpy()
    num_classes = int(labels.max()) + 1 if len(labels) else 0
    _check_labels(train, num_classes)
    order = torch.tensor([row_of[i] for i in train["image_id"].to_list()], dtype=torch.long)
    domains = train.group_by("label").agg(pl.col("domain").first()).sort("label")["domain"].to_list()
    return TrainingData(
        image_ids=train["image_id"].to_list(),
        paths=train["path"].to_list(),
        labels=torch.tensor(labels, dtype=torch.long),
        masks=masks[order],
        class_domains=[int(d) for d in domains],
        num_classes=num_classes,
    )


def _check_labels(train: pl.DataFrame, num_classes: int) -> None:
    bad = train.filter((pl.col("label") < 0) | (pl.col("label") >= num_classes))
    if bad.height:
        row = bad.row(0, named=True)
        raise ValueError(f"image '{row['image_id']}' has label {row['label']} outside 0..{num_classes - 1}")
    present = set(train["label"].unique().to_list())
    gaps = sorted(set(range(num_classes)) - present)
    if gaps:
        raise ValueError(
            f"labels are not contiguous: no training image has label {gaps[0]} (of {len(gaps)} missing); "
            f"relabelling happens at ingestion, re-run `dvc repro protocol`"
        )
