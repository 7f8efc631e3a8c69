"""Training parameters as plain dataclasses (one per params.yaml section).

Defaults are the paper's values (SPEC §5); params.yaml holds the demo's small ones and
`configs/paper.yaml` the paper's, so every number here is one a user can trace.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from reid.config.checks import check_device
from reid.config.schema import PipelineConfig
from reid.data.loading import Augment
from reid.errors import building

I2T_SIMILARITIES = ("dot", "cosine")


def _from_dict(cls, data: dict[str, Any] | None):
    """Build dataclass `cls` from a params section, naming unknown keys."""
    data = dict(data or {})
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown {cls.__name__} parameters {sorted(unknown)}; known: {sorted(known)}")
    return cls(**data)


@dataclass(frozen=True)
class TrainConfig:
    """What both stages share: seed, device, batch composition, augmentation, scale-out."""

    seed: int = 0
    device: str = "auto"
    workers: int = 2  # data-loader processes per rank
    ids_per_batch: int = 16  # P
    images_per_id: int = 4  # K
    vision_only: bool = False  # Table 6: no stage-1, no i2tce
    sync_bn: bool = False  # SyncBatchNorm for the BNNeck under torchrun
    memory_batch_size: int = 128  # images per forward when building the visual memories
    augment: Augment = field(default_factory=Augment)

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):
            object.__setattr__(self, "augment", _from_dict(Augment, self.augment))
        if self.ids_per_batch < 1 or self.images_per_id < 1:
            raise ValueError(f"ids_per_batch and images_per_id must be positive: {self.ids_per_batch}x{self.images_per_id}")

    @property
    def batch_size(self) -> int:
        return self.ids_per_batch * self.images_per_id

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TrainConfig:
        return _from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Stage1Config:
    """Prompt learning: Adam, warm-up then cosine per epoch (CLIP-ReID's schedule)."""

    epochs: int = 120
    lr: float = 3.5e-4
    min_lr: float = 1e-6
    warmup_epochs: int = 5
    warmup_lr: float = 1e-5
    weight_decay: float = 1e-4

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Stage1Config:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class Stage2Config:
    """Image-encoder training with AM-MSA: losses, memory, Adam with a step schedule."""

    epochs: int = 60
    lr: float = 5e-6
    rmp_lr_factor: float = 10.0
    weight_decay: float = 1e-4
    warmup_iters: int = 10
    warmup_factor: float = 0.1
    milestones: tuple[int, ...] = (30, 50)
    gamma: float = 0.1
    label_smoothing: float = 0.1
    imp_temperature: float = 0.01
    memory_momentum: float = 0.2  # M2[y] <- momentum * M2[y] + (1 - momentum) * hardest sample
    i2t_similarity: str = "dot"  # dot (reference code) | cosine (paper Eq. 4)
    i2t_temperature: float = 1.0  # divides cosine similarities (cosine only)
    loss_weights: dict[str, float] = field(default_factory=lambda: {"id": 1.0, "imp": 1.0, "i2tce": 1.0, "mask": 1.0})

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        weights = {"id": 1.0, "imp": 1.0, "i2tce": 1.0, "mask": 1.0}
        unknown = set(self.loss_weights) - set(weights)
        if unknown:
            raise ValueError(f"unknown loss_weights {sorted(unknown)}; known: {sorted(weights)}")
        object.__setattr__(self, "loss_weights", {**weights, **{k: float(v) for k, v in self.loss_weights.items()}})
        if self.i2t_similarity not in I2T_SIMILARITIES:
            raise ValueError(f"i2t_similarity must be one of {I2T_SIMILARITIES}, got '{self.i2t_similarity}'")
        if not 0.0 <= self.memory_momentum < 1.0:
            raise ValueError(f"memory_momentum must lie in [0, 1), got {self.memory_momentum}")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Stage2Config:
        return _from_dict(cls, data)


STAGE_CONFIGS = {"stage1": Stage1Config, "stage2": Stage2Config}


def training_configs(params: PipelineConfig, stage: str) -> tuple[TrainConfig, Stage1Config | Stage2Config]:
    """The shared `train` settings and those of `stage` (stage1 | stage2) from the validated tree."""
    check_device("train.device", params.train.device)
    with building("train"):
        train = TrainConfig.from_dict(params.train.plain())
    with building(stage):
        return train, STAGE_CONFIGS[stage].from_dict(getattr(params, stage).plain())
