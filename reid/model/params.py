"""The `model` section (`Model`, `Rmp`, `Prompts`): the architecture's keys, checked against the backbone's geometry.

`reid.model.configs.MuvaConfig` is built from it (plus what the protocol decides); this module
stays import-light, reading the backbones as plain data.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, model_validator

from reid.config.section import Invalid, Pair, PosInt, Section
from reid.grounding.parts import PARTS, Part
from reid.masks.grid import PatchGrid
from reid.model.clip_configs import BACKBONE_CONFIGS

PartAttention = Literal["am_msa", "stripes"]
PromptStyle = Literal["universal", "part_agnostic", "domain_specific"]


class Rmp(Section):
    """Residual Mask Prediction (paper §3.2.1) and its gate: `layer_norm` the three LNs of Eq. 5 and
    `inner_residual` r' = CrossAttn(...) + r (Table 10); `threshold` t of Eq. 6; heads auto: see reid.config.autos."""

    heads: Literal["auto"] | PosInt
    layer_norm: StrictBool
    inner_residual: StrictBool
    threshold: Annotated[float, Field(gt=0, lt=1)]


class Prompts(Section):
    """Learnable multi-grained prompts (paper §3.1.1): `n_tokens` per template; `domain_phrases`
    (domain_specific only, one per source) null = reid.model.configs.DOMAIN_STYLE_PHRASES."""

    n_tokens: PosInt
    style: PromptStyle
    domain_phrases: list[str] | None


class Model(Section):
    backbone: str
    image_size: Pair
    pretrained: str | None
    parts: list[Part]
    part_attention: PartAttention
    rmp: Rmp
    prompts: Prompts
    clip: dict[str, Any] | None  # an open_clip model config instead of the named backbone's

    @property
    def clip_config(self) -> dict[str, Any]:
        """The open_clip model config (a copy): `clip` if given, else the named backbone's."""
        return copy.deepcopy(self.clip or BACKBONE_CONFIGS[self.backbone])

    @property
    def patch(self) -> int:
        return int(self.clip_config["vision_cfg"]["patch_size"])

    @property
    def grid(self) -> PatchGrid:
        """Where the patches fall on the model's input: the grid its part masks live on."""
        height, width = self.image_size
        return PatchGrid(height, width, self.patch, self.patch)

    @model_validator(mode="after")
    def _geometry(self) -> Model:
        if self.clip is None and self.backbone not in BACKBONE_CONFIGS:
            raise Invalid("backbone", self.backbone, f"unknown backbone; allowed: {', '.join(BACKBONE_CONFIGS)} "
                          f"(or give model.clip, an open_clip model config)")
        if len(set(self.parts)) != len(self.parts) or self.parts != [p for p in PARTS if p in self.parts]:
            raise Invalid("parts", self.parts, f"must be distinct and in the order {list(PARTS)}")
        if any(size % self.patch for size in self.image_size):
            raise Invalid("image_size", self.image_size, f"does not fit the {self.patch}-pixel patch grid of "
                          f"{self.backbone}: use multiples of {self.patch}, e.g. [256, 128]")
        width = int(self.clip_config["vision_cfg"]["width"])
        if self.rmp.heads != "auto" and width % self.rmp.heads:
            raise Invalid("rmp.heads", self.rmp.heads, f"must divide the backbone width {width}; try 2, 4 or 8")
        return self
