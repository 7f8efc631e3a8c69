"""The `method` switch and the training sections: `train` (shared), `stage1` and `stage2` (MUVA, paper §3.3,
SPEC §5), and the peers' own, `clip_reid` and `clip_fgdi` (PEERS.md §1-2).

The peers are one implementation: CLIP-ReID is CLIP-FGDI with its additions off (no adaptation
phase, no domain prompts, no APN), so `ClipFgdi` extends `ClipReid` and `recipe` turns either
into the one `ClipFgdi` the code runs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, model_validator

from reid.config.section import Device, Fraction, Invalid, NonNegFloat, NonNegInt, PosFloat, PosInt, Section
from reid.data.config import Augment

Factor = Annotated[float, Field(gt=0, le=1)]  # a multiplier of a rate: warm-up start, decay
Smoothing = Annotated[float, Field(ge=0, lt=1)]  # label smoothing, momentum


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
    warmup_factor: Factor
    milestones: list[PosInt]
    gamma: Factor
    label_smoothing: Smoothing
    imp_temperature: PosFloat
    memory_momentum: Smoothing
    i2t_similarity: Literal["dot", "cosine"]
    i2t_temperature: PosFloat
    loss_weights: LossWeights

    @model_validator(mode="after")
    def _milestones(self) -> Stage2:
        check_milestones(self.milestones, self.epochs)
        return self


def check_milestones(milestones: list[int], epochs: int, key: str = "milestones", counted: str = "") -> None:
    if milestones != sorted(set(milestones)) or any(m > epochs for m in milestones):
        raise Invalid(key, milestones, f"must increase and lie within the {epochs} epochs{counted}")


Method = Literal["muva", "clip_reid", "clip_fgdi", "lvlm_reid"]


class PeerImage(Section):
    """The image-encoder phase of the CLIP-ReID lineage (their stage 2, FGDI's stage 3): Adam, biases at
    lr x `bias_lr_factor`, WarmupMultiStepLR stepped once per epoch as their code steps it (epoch e of the
    phase is scheduler epoch e + 1, after FGDI's adaptation epochs: its milestones count those too)."""

    epochs: PosInt
    lr: PosFloat
    bias_lr_factor: PosFloat
    weight_decay: NonNegFloat
    warmup_epochs: NonNegInt
    warmup_factor: Factor
    milestones: list[PosInt]
    gamma: Factor
    label_smoothing: Smoothing


class PeerLosses(Section):
    """Weights of the image phase: `id` (label-smoothed CE, summed over the two classifiers), `triplet`
    (batch-hard, summed over three features; `triplet_margin` null = soft margin, FGDI's), `i2tce`."""

    id: NonNegFloat
    triplet: NonNegFloat
    i2tce: NonNegFloat
    triplet_margin: PosFloat | None


class ClipReid(Section):
    """CLIP-ReID (Li et al., AAAI'23; PEERS.md §1): SupCon prompt learning over image features extracted
    once (`prompts`, batches of `prompt_batch_size`, re-shuffled every epoch or not), then the image
    encoder with ID + triplet + i2tce (`image`, `losses`). `test_feature`: cat(768 CLS, 512 projection)
    `before_bn` (their ViT config) or `after_bn` the BNNecks; `input_norm`: `clip` mean/std or `instance`
    (InstanceNorm2d on the input, FGDI's)."""

    prompts: Stage1
    prompt_batch_size: PosInt
    prompt_reshuffle: StrictBool
    image: PeerImage
    losses: PeerLosses
    test_feature: Literal["before_bn", "after_bn"]
    input_norm: Literal["clip", "instance"]

    @model_validator(mode="after")
    def _schedule(self) -> ClipReid:
        counted = " (prior_epochs + image.epochs: the schedule counts both)" if self.scheduled_epochs != self.image.epochs else ""
        check_milestones(self.image.milestones, self.scheduled_epochs, "image.milestones", counted)
        return self

    @property
    def scheduled_epochs(self) -> int:
        """Epochs of the image optimiser's schedule (FGDI's adaptation phase runs on it first)."""
        return self.image.epochs


class ClipFgdi(ClipReid):
    """CLIP-FGDI (Zhao et al., TIFS'25; PEERS.md §2.2), as its code does it: `prior_epochs` of ID + triplet
    adaptation on the image optimiser, domain-invariant prompts (SupCon + `omega` x domain CE through a
    gradient reversal of factor `grl`, classifier at `domain_lr`), domain-relevant prompts with one domain
    token each (`domain_prompts`), then the image encoder with (1 - `beta`) i2tce + `beta` APN.
    `apn_direction`: `code` (the released loss: it pushes images away from the invariant prompt) or `paper`
    (pulls towards it); `domain_unit`: `dataset` (the code's: one domain per source, so inert with one
    source) or `camera` (ours: one domain per source camera)."""

    prior_epochs: NonNegInt
    domain_prompts: Stage1
    beta: Fraction
    omega: NonNegFloat
    grl: NonNegFloat
    domain_lr: PosFloat
    apn_direction: Literal["code", "paper"]
    domain_unit: Literal["dataset", "camera"]

    @property
    def scheduled_epochs(self) -> int:
        return self.prior_epochs + self.image.epochs


def recipe(section: ClipReid) -> ClipFgdi:
    """The one recipe the peers' code runs: CLIP-FGDI's, or CLIP-ReID's as FGDI with its additions off."""
    if isinstance(section, ClipFgdi):
        return section
    off = {"prior_epochs": 0, "domain_prompts": section.prompts, "beta": 0.0, "omega": 0.0, "grl": 0.0,
           "domain_lr": section.prompts.lr, "apn_direction": "code", "domain_unit": "dataset"}
    return ClipFgdi.model_validate({**section.model_dump(), **off})


class LvlmLosses(Section):
    """Weights of LVLM-ReID's losses: `id` (label-smoothed CE) and batch-hard `triplet` (`triplet_margin` null =
    soft margin)."""

    id: NonNegFloat
    triplet: NonNegFloat
    triplet_margin: PosFloat | None


class LvlmReid(Section):
    """LVLM-ReID (Wang et al., arXiv 2411.18111; no code, only the abstract: every key is our reading, PEERS.md
    §4.3). The VLM (`vlm`, frozen) reads `instruction` beside the image; its last hidden state at the prompt's
    end is the semantic token. `sgi_blocks` of bidirectional cross-attention (`sgi_heads`) between that token
    and the image encoder's patch tokens refine it into the identity feature (BNNeck, classifier), trained
    end to end through the SGI and the image encoder with ID + triplet (`image`, `losses`), after
    `sgi_warmup_epochs` (stage 1) of the SGI, BNNeck and classifier alone on the frozen image encoder."""

    instruction: str
    sgi_blocks: PosInt
    sgi_heads: PosInt
    sgi_warmup_epochs: NonNegInt
    image: PeerImage
    losses: LvlmLosses

    @model_validator(mode="after")
    def _schedule(self) -> LvlmReid:
        check_milestones(self.image.milestones, self.image.epochs, "image.milestones")
        return self
