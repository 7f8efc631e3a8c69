"""The `pretrain` section: the contrastive optimisation of the demo's CLIP prior and its captioned pool.

CLIP's recipe shape (AdamW, large weight decay, learnable temperature, warm-up then cosine per
step) scaled to a small model and a few thousand pairs.
"""

from __future__ import annotations

from pydantic import model_validator

from reid.config.section import Device, Fraction, Invalid, NonNegFloat, NonNegInt, PosFloat, PosInt, Section
from reid.synth.config import Captioned


class Pretrain(Section):
    """`batch_size` pairs per step are the in-batch negatives; `flip` needs no caption change (captions name no side)."""

    data: Captioned
    epochs: PosInt
    batch_size: PosInt
    lr: PosFloat
    min_lr: PosFloat
    warmup_epochs: NonNegFloat
    weight_decay: NonNegFloat
    flip: Fraction
    seed: NonNegInt
    workers: NonNegInt
    device: Device

    @model_validator(mode="after")
    def _rates(self) -> Pretrain:
        if self.batch_size < 2:
            raise Invalid("batch_size", self.batch_size, "must be >= 2: a contrastive batch needs negatives")
        if self.min_lr > self.lr:
            raise Invalid("min_lr", self.min_lr, f"must not exceed lr ({self.lr})")
        return self
