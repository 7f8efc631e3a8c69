"""Model configurations as plain data: a MUVA model is rebuilt from its `MuvaConfig` alone.

`MuvaConfig` wraps one of the open_clip-format CLIP configs of `reid.model.clip_configs` with
everything MUVA adds (input size, part tokens, RMP, prompts, classifier size) and with the
switches for the paper's ablations:

| ablation (paper)                 | field                                            |
|----------------------------------|--------------------------------------------------|
| granularities G, G+H, … (Tab. 5) | `parts` (a subset of `PART_NAMES`, in that order) |
| w/o AM-MSA = global only (Tab.13)| `parts=()`                                       |
| stripes instead of AM-MSA (Tab.8)| `part_attention="stripes"`                       |
| PAP / DSP prompts (Tab. 7)       | `prompts.style`, `prompts.domain_phrases`        |
| RMP w/o LN / RC (Tab. 10)        | `rmp.layer_norm`, `rmp.inner_residual`           |
| RMP heads (Tab. 12)              | `rmp.heads`                                      |
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from reid.grounding.parts import (
    PARTS as PART_NAMES,  # order of G's rows [B, 3, Npatch] and of the local tokens
)
from reid.masks.grid import PatchGrid
from reid.model.clip_configs import BACKBONE_CONFIGS

PART_ATTENTIONS = ("am_msa", "stripes")
PROMPT_STYLES = ("universal", "part_agnostic", "domain_specific")

DOMAIN_STYLE_PHRASES: dict[str, str] = {
    # Our wording for the domain-specific prompt ablation (Table 7, "DSP"); the paper describes
    # each dataset's style (illumination, resolution, …) but does not publish its phrases.
    "MA": "captured by low-resolution outdoor campus cameras in summer",
    "D": "captured by high-resolution outdoor campus cameras in winter",
    "MS": "captured by indoor and outdoor cameras under varying daylight",
    "C3": "captured by indoor campus cameras",
}


@dataclass(frozen=True)
class RmpConfig:
    """Residual Mask Prediction (paper §3.2.1) and mask gating (§3.2.2)."""

    heads: int = 2  # 2 for single-source except MS, 8 for MS and multi-source
    layer_norm: bool = True  # the three LNs of Eq. 5 (Table 10 "LN")
    inner_residual: bool = True  # r' = CrossAttn(...) + r (Table 10 "RC")
    threshold: float = 0.5  # t of Eq. 6


@dataclass(frozen=True)
class PromptConfig:
    """Learnable multi-grained prompts (paper §3.1.1)."""

    n_tokens: int = 4  # N learnable tokens per template
    init_std: float = 0.002
    style: str = "universal"  # universal | part_agnostic | domain_specific
    domain_phrases: tuple[str, ...] = ()  # domain_specific only: one phrase per domain id


@dataclass(frozen=True)
class MuvaConfig:
    """Everything needed to rebuild a MUVA model (weights aside).

    `rmp` and `prompts` may be given as dicts (plain data); they become dataclasses.

    `clip` is an open_clip-format config (defaults to `BACKBONE_CONFIGS[backbone]`);
    `backbone` also names the open_clip model whose pretrained tags (e.g. "openai") apply.
    `class_domains[c]` is the domain id of identity c; only domain-specific prompts use it
    (with a single domain phrase it may be left out).
    """

    num_classes: int
    backbone: str = "ViT-B-16"
    clip: dict[str, Any] | None = None
    image_size: tuple[int, int] = (256, 128)
    pixel_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    pixel_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    pos_embed_interpolation: str = "bicubic"
    parts: tuple[str, ...] = PART_NAMES
    part_attention: str = "am_msa"
    rmp: RmpConfig = field(default_factory=RmpConfig)
    prompts: PromptConfig = field(default_factory=PromptConfig)
    class_domains: tuple[int, ...] | None = None
    local_token_std: float = 0.02
    classifier_std: float = 0.001

    def __post_init__(self) -> None:
        if self.clip is None:
            if self.backbone not in BACKBONE_CONFIGS:
                raise ValueError(
                    f"unknown backbone '{self.backbone}': use one of {sorted(BACKBONE_CONFIGS)} or pass `clip`"
                )
            object.__setattr__(self, "clip", copy.deepcopy(BACKBONE_CONFIGS[self.backbone]))
        for name in ("image_size", "pixel_mean", "pixel_std", "parts"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if isinstance(self.rmp, dict):
            object.__setattr__(self, "rmp", RmpConfig(**self.rmp))
        if isinstance(self.prompts, dict):
            prompts = {**self.prompts, "domain_phrases": tuple(self.prompts.get("domain_phrases", ()))}
            object.__setattr__(self, "prompts", PromptConfig(**prompts))
        if self.class_domains is not None:
            object.__setattr__(self, "class_domains", tuple(int(d) for d in self.class_domains))
        self._validate()

    def _validate(self) -> None:
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {self.num_classes}")
        unknown = [p for p in self.parts if p not in PART_NAMES]
        if unknown or len(set(self.parts)) != len(self.parts):
            raise ValueError(f"parts must be distinct names from {PART_NAMES}, got {list(self.parts)}")
        ordered = tuple(p for p in PART_NAMES if p in self.parts)
        if ordered != self.parts:
            raise ValueError(f"parts must follow the order {PART_NAMES}, got {list(self.parts)}")
        if self.part_attention not in PART_ATTENTIONS:
            raise ValueError(f"part_attention must be one of {PART_ATTENTIONS}, got '{self.part_attention}'")
        patch = self.clip["vision_cfg"]["patch_size"]
        if any(size % patch for size in self.image_size):
            raise ValueError(f"image_size {self.image_size} is not a multiple of the patch size {patch}")
        width = self.clip["vision_cfg"]["width"]
        if self.rmp.heads < 1 or width % self.rmp.heads:
            raise ValueError(f"rmp.heads={self.rmp.heads} must divide the vision width {width}")
        if not 0.0 < self.rmp.threshold < 1.0:
            raise ValueError(f"rmp.threshold must lie in (0, 1), got {self.rmp.threshold}")
        if self.prompts.style not in PROMPT_STYLES:
            raise ValueError(f"prompts.style must be one of {PROMPT_STYLES}, got '{self.prompts.style}'")
        if self.prompts.n_tokens < 1:
            raise ValueError(f"prompts.n_tokens must be positive, got {self.prompts.n_tokens}")
        n_domains = len(self.prompts.domain_phrases)
        if self.prompts.style == "domain_specific":
            if n_domains == 0:
                raise ValueError("prompts.style 'domain_specific' needs prompts.domain_phrases (one per domain)")
            if self.class_domains is None and n_domains > 1:
                raise ValueError("domain_specific prompts with several domains need class_domains (one id per class)")
        if self.class_domains is not None:
            if len(self.class_domains) != self.num_classes:
                raise ValueError(
                    f"class_domains has {len(self.class_domains)} entries for {self.num_classes} classes"
                )
            if self.prompts.style == "domain_specific" and any(d < 0 or d >= n_domains for d in self.class_domains):
                raise ValueError(f"class_domains must index prompts.domain_phrases (0..{n_domains - 1})")

    @property
    def grid(self) -> PatchGrid:
        """Where the patches fall on the model's input: the grid its part masks live on."""
        patch = self.clip["vision_cfg"]["patch_size"]
        return PatchGrid(self.image_size[0], self.image_size[1], patch, patch)

    @property
    def patch_grid(self) -> tuple[int, int]:
        """(rows, columns) of the patch grid at the model's input size: (16, 8) for 256x128, patch 16."""
        return self.grid.rows, self.grid.cols

    @property
    def num_patches(self) -> int:
        rows, cols = self.patch_grid
        return rows * cols

    @property
    def num_granularities(self) -> int:
        """Global + one per part: the number of embed_dim blocks in the feature."""
        return 1 + len(self.parts)

    @property
    def feature_dim(self) -> int:
        """Width of the multi-grained feature: (1 + parts) x embed_dim (2048 for ViT-B-16)."""
        return self.num_granularities * self.clip["embed_dim"]

    def to_dict(self) -> dict[str, Any]:
        """Plain (JSON/YAML-serialisable) data; `MuvaConfig.from_dict` inverts it."""
        data = asdict(self)
        for key in ("image_size", "pixel_mean", "pixel_std", "parts"):
            data[key] = list(data[key])
        data["prompts"]["domain_phrases"] = list(data["prompts"]["domain_phrases"])
        if data["class_domains"] is not None:
            data["class_domains"] = list(data["class_domains"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MuvaConfig:
        """Build from plain data (e.g. a params.yaml section); missing fields take their defaults."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)
