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
from reid.errors import ArtifactError
from reid.masks.store import read_masks
from reid.utils.files import reason_of
from reid.model.configs import MuvaConfig

TRAIN_COLUMNS = ("image_id", "path", "label", "domain", "camid")  # what training reads of data/protocol/train.parquet


@dataclass(frozen=True)
class TrainingData:
    image_ids: list[str]
    paths: list[str]
    labels: torch.Tensor  # [N] long, 0..C-1
    masks: torch.Tensor  # [N, 3, Npatch] bool (pseudo-label masks G); [N, 3, 0] for a method without parts
    class_domains: list[int]  # [C] domain index of every identity
    num_classes: int
    domains: torch.Tensor  # [N] long: the image's source dataset (its index in protocol.source)
    cameras: torch.Tensor  # [N] long: the image's camera, numbered densely over all sources' cameras
    masks_path: str = "the pseudo-label masks"  # where the masks came from (named in errors)

    def dataset(self, config: MuvaConfig, augment: Augment | None = None, seed: int = 0) -> TrainingSet:
        """The images with labels and G masks, preprocessed for `config` (augmented if `augment` is given)."""
        return TrainingSet(self.paths, self.labels, self.masks, Preprocess.for_model(config), config.grid, augment, seed)

    def check_fits(self, num_patches: int) -> None:
        """Fail fast if the masks were voted onto another patch grid than the model's."""
        if self.masks.shape[-1] not in (0, num_patches):
            raise ArtifactError(
                self.masks_path, "calibrate",
                f"has masks of {self.masks.shape[-1]} patches but the model has {num_patches} "
                f"(model.image_size or backbone changed since calibration)",
            )


def load_training_data(train_path: str | Path, masks_path: str | Path | None) -> TrainingData:
    """Join manifest and masks by image_id; check every image has a mask and labels are 0..C-1.

    `masks_path` None: a method that uses no part masks (they are not read). Missing, unreadable or
    inconsistent inputs are `ArtifactError`s naming the stage to re-run (`protocol` for the manifest,
    `calibrate` for the masks).
    """
    train = read_training_manifest(train_path)
    if train.height == 0:
        raise ArtifactError(train_path, "protocol", "has no training images (check protocol.source and data.root)")
    if masks_path is None:
        masks, masks_path = torch.zeros(train.height, 3, 0, dtype=torch.bool), "no masks"
        return _training_data(train, masks, train_path, masks_path)
    mask_ids, masks, _ = read_masks(Path(masks_path))
    row_of = {image_id: i for i, image_id in enumerate(mask_ids)}
    missing = [i for i in train["image_id"].to_list() if i not in row_of]
    if missing:
        raise ArtifactError(
            masks_path, "calibrate",
            f"has no pseudo-label mask for {len(missing)} training images, e.g. '{missing[0]}' "
            f"(the masks are older than the training manifest)",
        )
    order = torch.tensor([row_of[i] for i in train["image_id"].to_list()], dtype=torch.long)
    return _training_data(train, masks[order], train_path, masks_path)


def _training_data(train: pl.DataFrame, masks: torch.Tensor, train_path: str | Path,
                   masks_path: str | Path) -> TrainingData:
    labels = train["label"].to_numpy()
    num_classes = int(labels.max()) + 1 if len(labels) else 0
    _check_labels(train, num_classes, train_path)
    domains = train.group_by("label").agg(pl.col("domain").first()).sort("label")["domain"].to_list()
    cameras = train.select(pl.struct("domain", "camid").rank("dense") - 1).to_series()
    return TrainingData(
        image_ids=train["image_id"].to_list(),
        paths=train["path"].to_list(),
        labels=torch.tensor(labels, dtype=torch.long),
        masks=masks,
        class_domains=[int(d) for d in domains],
        num_classes=num_classes,
        domains=torch.tensor(train["domain"].to_numpy(), dtype=torch.long),
        cameras=torch.tensor(cameras.to_numpy().astype("int64")),
        masks_path=str(masks_path),
    )


def read_training_manifest(path: str | Path) -> pl.DataFrame:
    """data/protocol/train.parquet, or an `ArtifactError` (stage `protocol`) if missing, unreadable or short of columns."""
    if not Path(path).is_file():
        raise ArtifactError(path, "protocol")
    try:
        train = pl.read_parquet(path)
    except Exception as exc:
        raise ArtifactError(path, "protocol", f"is unreadable ({reason_of(exc)})") from exc
    absent = [c for c in TRAIN_COLUMNS if c not in train.columns]
    if absent:
        raise ArtifactError(path, "protocol", f"is unreadable (no column {', '.join(absent)})")
    return train


def _check_labels(train: pl.DataFrame, num_classes: int, source: str | Path) -> None:
    bad = train.filter((pl.col("label") < 0) | (pl.col("label") >= num_classes))
    if bad.height:
        row = bad.row(0, named=True)
        raise ArtifactError(source, "protocol",
                            f"has image '{row['image_id']}' with label {row['label']} outside 0..{num_classes - 1}")
    present = set(train["label"].unique().to_list())
    gaps = sorted(set(range(num_classes)) - present)
    if gaps:
        raise ArtifactError(
            source, "protocol",
            f"has labels that are not contiguous: no training image has label {gaps[0]} (of {len(gaps)} missing)",
        )
