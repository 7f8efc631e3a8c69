"""The one typed configuration tree: every key of params.yaml, its closed set of values and its bounds.

Each section mirrors its params.yaml section key for key: an unknown key is refused (a typo),
every key is required (so configs/paper.yaml and params.yaml cannot drift apart, and no library
default decides a run).  Every stage validates the whole tree before it does any work, so a
wrong value in a late section stops the first stage that runs.  The tree only imports constants:
a stage's code dependencies stay its own.  The library's dataclasses, built by each stage from its
sections (`stages.common.build`), keep their own checks for callers of the API.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from reid.config.choices import (
    BACKBONES,
    BUILTIN_DATASETS,
    CUSTOM_KEY_PATTERN,
    DEVICE_PATTERN,
    PART_NAMES,
    backbone_geometry,
)

PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Device = Annotated[str, Field(pattern=DEVICE_PATTERN)]
Window = Annotated[list[Fraction], Field(min_length=2, max_length=2)]
Part = Literal["head", "upper", "legs"]


class Invalid(ValueError):
    """A check across keys of one section failed: names the key (relative to the section) and the value."""

    def __init__(self, key: str, value: Any, problem: str):
        self.key, self.value, self.problem = key, value, problem
        super().__init__(f"{key} = {value!r}: {problem}")


class Section(BaseModel):
    """A params.yaml section: closed (an unknown key is a typo), immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def plain(self, **exclude: Any) -> dict[str, Any]:
        """The section as the plain data the library takes (unset optional keys left out)."""
        return self.model_dump(exclude_none=True, exclude=set(exclude) or None)


class Synth(Section):
    out: str
    seed: NonNegInt
    train_ids: PosInt
    test_ids: PosInt
    images_per_id: PosInt
    queries_per_id: Annotated[list[PosInt], Field(min_length=2, max_length=2)]
    gallery_per_id: Annotated[list[PosInt], Field(min_length=2, max_length=2)]
    distractors: NonNegInt
    junk: NonNegInt
    height: Annotated[int, Field(ge=64)]
    width: Annotated[int, Field(ge=32)]

    @model_validator(mode="after")
    def _ranges(self) -> Synth:
        if self.train_ids + self.test_ids > 4999:
            raise Invalid("test_ids", self.test_ids, "train_ids + test_ids must be <= 4999 (file names hold 4-digit pids)")
        if self.images_per_id < 2:
            raise Invalid("images_per_id", self.images_per_id, "must be >= 2, so that every training identity spans 2 cameras")
        for name in ("queries_per_id", "gallery_per_id"):
            low, high = getattr(self, name)
            if low > high:
                raise Invalid(name, [low, high], "must be a range [low, high] with low <= high")
        return self


class Data(Section):
    root: str
    datasets: Literal["auto"] | Annotated[list[str], Field(min_length=1)]
    cuhk03_subset: Literal["detected", "labeled"]
    custom: dict[Annotated[str, Field(pattern=CUSTOM_KEY_PATTERN)], str]
    workers: PosInt

    @model_validator(mode="after")
    def _known_keys(self) -> Data:
        clash = sorted(set(self.custom) & set(BUILTIN_DATASETS))
        if clash:
            raise Invalid(f"custom.{clash[0]}", self.custom[clash[0]], "the key is a built-in dataset's; choose another name")
        if self.datasets != "auto":
            known = (*BUILTIN_DATASETS, *self.custom)
            unknown = [k for k in self.datasets if k not in known]
            if unknown:
                raise Invalid("datasets", self.datasets, f"{unknown[0]!r} is no dataset; allowed: auto, or a list of {', '.join(known)}")
        return self


class Protocol(Section):
    source: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$")]
    targets: Literal["auto"] | Annotated[list[str], Field(min_length=1)]

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.source.split("+"))

    @model_validator(mode="after")
    def _distinct(self) -> Protocol:
        if len(set(self.sources)) != len(self.sources):
            raise Invalid("source", self.source, "names a dataset twice")
        return self


class CogVLM(Section):
    model: str
    revision: str
    tokenizer: str
    dtype: Literal["bfloat16", "float16", "float32"]
    load_in_4bit: StrictBool
    max_new_tokens: PosInt
    device: Device


class Pose(Section):
    visibility: Fraction
    min_detection_confidence: Fraction
    pad: NonNegFloat


class Stripes(Section):
    windows: dict[Part, Window]


class Oracle(Section):
    whole_rate: Fraction
    split_rate: Fraction
    seed: NonNegInt


class Grounding(Section):
    expert: Literal["cogvlm", "pose", "stripes", "oracle"]
    batch_size: PosInt
    sheet_images: NonNegInt
    max_attempts: PosInt
    max_error_fraction: Fraction
    cogvlm: CogVLM
    pose: Pose
    stripes: Stripes
    oracle: Oracle


class Calibration(Section):
    enabled: StrictBool
    choose: Literal["first", "largest", "union"]
    rule: Literal["mad", "quantile"]
    mad_k: PosFloat
    min_spread: NonNegFloat
    quantiles: Annotated[list[Fraction], Field(min_length=2, max_length=2)]
    min_good: PosInt
    stripe_windows: dict[Part, Window] | None
    sheet_images: NonNegInt

    @model_validator(mode="after")
    def _quantiles(self) -> Calibration:
        low, high = self.quantiles
        if not low < high:
            raise Invalid("quantiles", self.quantiles, "must be [low, high] with low < high")
        return self


class Masks(Section):
    mode: Literal["calibrated", "stripes"]
    rule: Literal["centre", "coverage"]
    coverage: Annotated[float, Field(gt=0, le=1)]


class PretrainData(Section):
    seed: NonNegInt
    identities: PosInt
    images_per_id: PosInt
    test_identities: PosInt
    height: PosInt
    width: PosInt


class Pretrain(Section):
    data: PretrainData
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
        if self.data.test_identities >= self.data.identities:
            raise Invalid("data.test_identities", self.data.test_identities, f"must be fewer than data.identities ({self.data.identities})")
        return self


class Rmp(Section):
    heads: Literal["auto"] | PosInt
    layer_norm: StrictBool
    inner_residual: StrictBool
    threshold: Annotated[float, Field(gt=0, lt=1)]


class Prompts(Section):
    n_tokens: PosInt
    style: Literal["universal", "part_agnostic", "domain_specific"]
    domain_phrases: list[str] | None  # domain_specific only; null = DOMAIN_STYLE_PHRASES


class Model(Section):
    backbone: str
    image_size: Annotated[list[PosInt], Field(min_length=2, max_length=2)]
    pretrained: str | None
    parts: list[Part]
    part_attention: Literal["am_msa", "stripes"]
    rmp: Rmp
    prompts: Prompts
    clip: dict[str, Any] | None  # an open_clip model config instead of the named backbone's

    @model_validator(mode="after")
    def _geometry(self) -> Model:
        if self.clip is None and self.backbone not in BACKBONES:
            raise Invalid("backbone", self.backbone, f"unknown backbone; allowed: {', '.join(BACKBONES)} "
                          f"(or give model.clip, an open_clip model config)")
        if len(set(self.parts)) != len(self.parts) or self.parts != [p for p in PART_NAMES if p in self.parts]:
            raise Invalid("parts", self.parts, f"must be distinct and in the order {list(PART_NAMES)}")
        patch, width = backbone_geometry(self.backbone, self.clip)
        if any(size % patch for size in self.image_size):
            raise Invalid("image_size", self.image_size, f"does not fit the {patch}-pixel patch grid of "
                          f"{self.backbone}: use multiples of {patch}, e.g. [256, 128]")
        if self.rmp.heads != "auto" and width % self.rmp.heads:
            raise Invalid("rmp.heads", self.rmp.heads, f"must divide the backbone width {width}; try 2, 4 or 8")
        return self


class Augment(Section):
    flip: Fraction
    random_crop: StrictBool
    crop_pad: NonNegInt
    random_erasing: Fraction


class Train(Section):
    seed: NonNegInt
    device: Device
    workers: NonNegInt
    ids_per_batch: PosInt
    images_per_id: PosInt
    vision_only: StrictBool
    sync_bn: StrictBool
    memory_batch_size: PosInt
    augment: Augment


class Stage1(Section):
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


class Rerank(Section):
    enabled: StrictBool
    k1: PosInt
    k2: PosInt
    lambda_value: Fraction

    @model_validator(mode="after")
    def _expansion_within_neighbourhood(self) -> Rerank:
        if self.k2 > self.k1:
            raise Invalid("k2", self.k2, f"must not exceed k1 ({self.k1}): the query expansion averages "
                          f"over the k2 nearest, part of the k1-neighbourhood (the paper: k1 20, k2 6)")
        return self


class Evaluation(Section):
    batch_size: PosInt
    device: Device
    workers: NonNegInt
    max_rank: Annotated[int, Field(ge=10)]
    sheet_queries: NonNegInt
    mask_images: NonNegInt
    bootstrap_draws: NonNegInt
    rerank: Rerank


class PipelineConfig(Section):
    """The whole params file."""

    synth: Synth
    data: Data
    protocol: Protocol
    grounding: Grounding
    calibration: Calibration
    masks: Masks
    pretrain: Pretrain
    model: Model
    train: Train
    stage1: Stage1
    stage2: Stage2
    evaluation: Evaluation

    @model_validator(mode="after")
    def _across_sections(self) -> PipelineConfig:
        known = (*BUILTIN_DATASETS, *self.data.custom)
        named = {"protocol.source": self.protocol.sources,
                 "protocol.targets": () if self.protocol.targets == "auto" else self.protocol.targets}
        for key, names in named.items():
            unknown = [n for n in names if n not in known]
            if unknown:
                raise Invalid(key, getattr(self.protocol, key.split(".")[1]),
                              f"{unknown[0]!r} is no dataset; allowed: {', '.join(known)} "
                              f"(custom datasets are declared in data.custom)")
        return self
