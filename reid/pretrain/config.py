"""Contrastive pre-training parameters (the `pretrain` section of params.yaml, data aside)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class PretrainConfig:
    """Optimisation of the image–caption contrastive loss: AdamW, warm-up then cosine per step.

    CLIP's recipe shape (AdamW, large weight decay, learnable temperature) scaled to a small
    model and a few thousand pairs.
    """

    epochs: int = 10
    batch_size: int = 64  # pairs per step: the in-batch negatives of the contrastive loss
    lr: float = 5e-4
    min_lr: float = 1e-5
    warmup_epochs: float = 0.5
    weight_decay: float = 0.1
    flip: float = 0.5  # horizontal flip probability (captions name no side)
    seed: int = 0
    workers: int = 2
    device: str = "auto"

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"pretrain.epochs must be >= 1 (got {self.epochs})")
        if self.batch_size < 2:
            problems.append(f"pretrain.batch_size must be >= 2: a contrastive batch needs negatives (got {self.batch_size})")
        if not 0 < self.min_lr <= self.lr:
            problems.append(f"pretrain.lr and min_lr must satisfy 0 < min_lr <= lr (got {self.lr}, {self.min_lr})")
        if self.warmup_epochs < 0 or self.weight_decay < 0 or self.workers < 0:
            problems.append("pretrain.warmup_epochs, weight_decay and workers must be >= 0")
        if not 0.0 <= self.flip <= 1.0:
            problems.append(f"pretrain.flip must lie in [0, 1] (got {self.flip})")
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
