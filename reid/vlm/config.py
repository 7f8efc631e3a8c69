"""The `vlm` section: which vision-language model MUSE and LVLM-ReID use, and the demo stand-in's recipe."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from reid.config.section import Device, Invalid, NonNegFloat, NonNegInt, Pair, PosFloat, PosInt, Section

PATCH_MERGE = 28  # Qwen2-VL: 14-pixel patches merged 2 × 2 into one visual token


class VlmDemo(Section):
    """The demo's stand-in Qwen2-VL (built when `vlm.model` is the `vlm` stage's folder): the language model
    (`hidden`, `layers`, `heads`, grouped-query `kv_heads`, MLP `intermediate`), the vision tower
    (`vision_depth` blocks of `vision_dim` with `vision_heads`), and its captioning pre-training on the
    captioned pool (`epochs`, `batch_size`, AdamW `lr` → cosine `min_lr` after `warmup_epochs`)."""

    hidden: PosInt
    layers: PosInt
    heads: PosInt
    kv_heads: PosInt
    intermediate: PosInt
    vision_depth: PosInt
    vision_dim: PosInt
    vision_heads: PosInt
    epochs: PosInt
    batch_size: PosInt
    lr: PosFloat
    min_lr: PosFloat
    warmup_epochs: NonNegFloat
    weight_decay: NonNegFloat
    seed: NonNegInt
    workers: NonNegInt

    @model_validator(mode="after")
    def _shapes(self) -> VlmDemo:
        for key, dim, heads in (("heads", self.hidden, self.heads), ("vision_heads", self.vision_dim, self.vision_heads)):
            if dim % heads:
                raise Invalid(key, heads, f"must divide the width ({dim})")
        if self.heads % self.kv_heads:
            raise Invalid("kv_heads", self.kv_heads, f"must divide heads ({self.heads})")
        if (self.hidden // self.heads) % 16:
            raise Invalid("heads", self.heads, f"hidden / heads = {self.hidden // self.heads} must be a multiple of 16 "
                          f"(Qwen2-VL's rotary sections split a head's half 2 : 3 : 3)")
        if self.min_lr > self.lr:
            raise Invalid("min_lr", self.min_lr, f"must not exceed lr ({self.lr})")
        return self


class Vlm(Section):
    """`model`: the `vlm` stage's folder (the demo stand-in, trained there) or a local Hugging Face copy of a
    Qwen2-VL (`Qwen/Qwen2-VL-2B-Instruct`, MUSE's; workers have no network); `image_size` (height, width) every
    image is resized to before the processor (MUSE 280 × 140); `dtype` auto = bfloat16 on CUDA, float32 on CPU."""

    model: str
    image_size: Pair
    dtype: Literal["auto", "float32", "bfloat16"]
    device: Device
    demo: VlmDemo

    @model_validator(mode="after")
    def _grid(self) -> Vlm:
        if any(side % PATCH_MERGE for side in self.image_size):
            raise Invalid("image_size", self.image_size, f"each side must be a multiple of {PATCH_MERGE} "
                          f"(14-pixel patches merged 2 × 2), e.g. [280, 140]")
        return self
