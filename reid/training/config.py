"""The `train`, `stage1` and `stage2` sections: what both training stages take (paper §3.3, SPEC §5)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, model_validator

from reid.config.section import Device, Invalid, NonNegFloat, NonNegInt, PosFloat, PosInt, Section
from reid.data.config import Augment


class Train(Section):
    """What both stages share. `workers` loader processes per rank; `vision_only` is Table 6 (no stage-1,
    no i2tce); `sync_bn` SyncBatchNorm for the BNNeck under torchrun; `memory_batch_size` images per
    forward when building the visual memories."""

    seed: NonNegInt
    device: Device
    workers: NonNegInt
    ids_per_batch: PosInt  # P
    images_per_id: PosInt  # K
    vision_only: StrictBool
    sync_bn: StrictBool
    memory_batch_size: PosInt
    augment: Augment

    @property
    def batch_size(self) -> int:
        return self.ids_per_batch * self.images_per_id


class Stage1(Section):
    """Prompt learning: Adam, warm-up then cosine per epoch (CLIP-ReID's schedule)."""

    epochs: PosInt
    lr: PosFloat
    min_lr: PosFloat
    warmup_epochs: NonNegInt
    warmup_lr: PosFloat
    weight_decay: NonNegFloat

    @model_validator(mode="after")
    def _rates(self) -> Stage1:
        if self.min_lr > self.lr:
            raise Invalid("min_lr", self.min_lr, f"must not exceed lr ({self.lr})")
        return self


class LossWeights(Section):
    id: NonNegFloat
    imp: NonNegFloat
    i2tce: NonNegFloat
    mask: NonNegFloat


class Stage2(Section):
    """Image-encoder training with AM-MSA: Adam with a step schedule; M2[y] ← momentum·M2[y] + (1 − momentum)·hardest
    sample; `i2t_similarity` dot (reference code) or cosine (paper Eq. 4, divided by `i2t_temperature`)."""

    epochs: PosInt
    lr: PosFloat
    rmp_lr_factor: PosFloat
    weight_decay: NonNegFloat
    warmup_iters: NonNegInt
    warmup_factor: Annotated[float, Field(gt=0, le=1)]
    milestones: list[PosInt]
    gamma: Annotated[float, Field(gt=0, le=1)]
    label_smoothing: Annotated[float, Field(ge=0, lt=1)]
    imp_temperature: PosFloat
    memory_momentum: Annotated[float, Field(ge=0, lt=1)]
    i2t_similarity: Literal["dot", "cosine"]
    i2t_temperature: PosFloat
    loss_weights: LossWeights

    @model_validator(mode="after")
    def _milestones(self) -> Stage2:
        if self.milestones != sorted(set(self.milestones)) or any(m > self.epochs for m in self.milestones):
            raise Invalid("milestones", self.milestones, f"must increase and lie within the {self.epochs} epochs")
        return self
