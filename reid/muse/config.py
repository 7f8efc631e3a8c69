"""The `muse` section: MUSE's pair mining, LoRA fine-tuning, μ-distance and fused re-ranking (PEERS.md §3.2)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, model_validator

from reid.config.section import Fraction, Invalid, NonNegFloat, NonNegInt, PosFloat, PosInt, Section
from reid.evaluation.config import KReciprocalParams


class MusePairs(Section):
    """Hard mining on the source training split: per anchor the `k` least similar positives and the `k` most
    similar negatives; `val_id_ratio` of the identities held out for validation; the training pairs cut to
    `truncate` of them (MUSE: 5, 0.5, 0.5)."""

    k: PosInt
    val_id_ratio: Annotated[float, Field(gt=0, lt=1)]
    truncate: Annotated[float, Field(gt=0, le=1)]
    seed: NonNegInt


class MuseSft(Section):
    """Supervised fine-tuning on the Yes/No answer: LoRA (`lora_r`, `lora_alpha`, `lora_dropout`) on the language
    model's projections and, with `vision_lora`, the vision tower's MLP; AdamW `lr` → cosine `min_lr`,
    `batch_size` pairs per step (MUSE: r 16, α 32, 0.05, 5e-5 → 1e-6, 20 epochs, batch 2); after each epoch the
    Yes/No accuracy of `check_pairs` validation pairs (a fixed seeded sample; null = all, as MUSE).
    `train_head` also trains the language-model head in full (peft's modules_to_save, saved with the
    adapter): the demo's stand-in never answered Yes/No before, and LoRA alone does not reach it
    (MUSE: false)."""

    lora_r: PosInt
    lora_alpha: PosFloat
    lora_dropout: Annotated[float, Field(ge=0, lt=1)]
    vision_lora: StrictBool
    train_head: StrictBool
    epochs: PosInt
    batch_size: PosInt
    lr: PosFloat
    min_lr: PosFloat
    weight_decay: NonNegFloat
    seed: NonNegInt
    workers: NonNegInt
    check_pairs: PosInt | None

    @model_validator(mode="after")
    def _rates(self) -> MuseSft:
        if self.min_lr > self.lr:
            raise Invalid("min_lr", self.min_lr, f"must not exceed lr ({self.lr})")
        return self


class MuseRerank(KReciprocalParams):
    """The fused ranking: `simple` (the fused distances themselves) or `krnn` (k-reciprocal on them; MUSE:
    k1 10, k2 5, λ 0.3). The metrics also give k-reciprocal with these parameters without μ, for the Δ."""

    mode: Literal["krnn", "simple"]


class Muse(Section):
    """`enabled` runs stages pairs, sft and mu and the fused evaluation (the `mllm` extra); `topk` gallery
    candidates per target query get μ = p("No") at temperature `tau` (with `swap`, averaged with the
    candidate shown first), fused as e' = (1 − `alpha`)·e + `alpha`·2μ on the Euclidean distance;
    `batch_size` pairs per forward of the μ pass."""

    enabled: StrictBool
    pairs: MusePairs
    sft: MuseSft
    topk: PosInt
    tau: PosFloat
    swap: StrictBool
    alpha: Fraction
    batch_size: PosInt
    rerank: MuseRerank
