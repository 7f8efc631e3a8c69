"""Model configurations as plain data: a MUVA model is rebuilt from its `MuvaConfig` alone.

`MuvaConfig` is the `model` section (`reid.model.params.Model`, the one definition of its keys)
with every choice resolved — the backbone's open_clip config written out, `rmp.heads: auto`
and null domain phrases replaced by what the protocol decides — plus the protocol's identities
and the constants that are not params.  The paper's ablations are keys of that section:

| ablation (paper)                 | key                                              |
|----------------------------------|--------------------------------------------------|
| granularities G, G+H, … (Tab. 5) | `parts` (a subset of `PART_NAMES`, in that order) |
| w/o AM-MSA = global only (Tab.13)| `parts: []`                                      |
| stripes instead of AM-MSA (Tab.8)| `part_attention: stripes`                        |
| PAP / DSP prompts (Tab. 7)       | `prompts.style`, `prompts.domain_phrases`        |
| RMP w/o LN / RC (Tab. 10)        | `rmp.layer_norm`, `rmp.inner_residual`           |
| RMP heads (Tab. 12)              | `rmp.heads`                                      |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from reid.config.autos import AUTO, auto_rmp_heads
from reid.grounding.parts import (
    PARTS as PART_NAMES,  # order of G's rows [B, 3, Npatch] and of the local tokens
)
from reid.masks.grid import PatchGrid
from reid.model.params import Model, Prompts, Rmp

DOMAIN_STYLE_PHRASES: dict[str, str] = {
    # Our wording for the domain-specific prompt ablation (Table 7, "DSP"); the paper describes
    # each dataset's style (illumination, resolution, …) but does not publish its phrases.
    "MA": "captured by low-resolution outdoor campus cameras in summer",
    "D": "captured by high-resolution outdoor campus cameras in winter",
    "MS": "captured by indoor and outdoor cameras under varying daylight",
    "C3": "captured by indoor campus cameras",
}


def resolved(model: Model, sources: Sequence[str]) -> Model:
    """`model` with its open_clip config written out and its autos decided for training on `sources`."""
    heads = auto_rmp_heads(sources) if model.rmp.heads == AUTO else model.rmp.heads
    phrases = model.prompts.domain_phrases
    if phrases is None and model.prompts.style == "domain_specific":
        missing = [s for s in sources if s not in DOMAIN_STYLE_PHRASES]
        if missing:
            raise ValueError(f"no domain phrase for {missing}: give model.prompts.domain_phrases (one per source, in order)")
        phrases = [DOMAIN_STYLE_PHRASES[s] for s in sources]
    data = model.model_dump()
    data.update(clip=model.clip_config, rmp={**data["rmp"], "heads": heads},
                prompts={**data["prompts"], "domain_phrases": phrases or []})
    return Model.model_validate(data)  # validated again: resolved heads must divide the width too


@dataclass(frozen=True)
class MuvaConfig:
    """Everything needed to rebuild a MUVA model (weights aside).

    `model` is resolved (see `resolved`); `backbone` also names the open_clip model whose
    pretrained tags (e.g. "openai") apply.  `class_domains[c]` is the domain id of identity c;
    only domain-specific prompts use it (with a single domain phrase it may be left out).
    `method` names the architecture (`reid.model.factory`): MUVA's, or the CLIP-ReID lineage's
    (global only, with `num_domains` domain tokens for CLIP-FGDI, its `input_norm` and `test_feature`).
    """

    model: Model
    num_classes: int
    class_domains: tuple[int, ...] | None = None
    pixel_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    pixel_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    pos_embed_interpolation: str = "bicubic"
    prompt_init_std: float = 0.002
    local_token_std: float = 0.02
    classifier_std: float = 0.001
    method: str = "muva"
    num_domains: int = 1
    input_norm: str = "clip"  # clip (mean/std only) | instance (InstanceNorm2d on the input)
    test_feature: str = "bnneck"  # MUVA: the BNNeck feature; peers: before_bn | after_bn
    semantic_dim: int = 0  # LVLM-ReID: the VLM's hidden width (its semantic token's)
    sgi_blocks: int = 0  # LVLM-ReID: SGI blocks and their heads
    sgi_heads: int = 1

    @classmethod
    def of(cls, model: Model, sources: Sequence[str], num_classes: int,
           class_domains: Sequence[int] | None = None) -> MuvaConfig:
        """The architecture `model` describes, trained on `sources` with `num_classes` identities."""
        return cls(resolved(model, sources), int(num_classes), None if class_domains is None else tuple(class_domains))

    @classmethod
    def of_peer(cls, model: Model, sources: Sequence[str], num_classes: int, method: str, num_domains: int,
                input_norm: str, test_feature: str) -> MuvaConfig:
        """The CLIP-ReID lineage's architecture on `model`'s backbone and input size (global only: no parts)."""
        base = cls.of(Model.model_validate({**model.model_dump(), "parts": []}), sources, num_classes)
        return replace(base, method=method, num_domains=int(num_domains), input_norm=input_norm,
                       test_feature=test_feature)

    @classmethod
    def of_lvlm(cls, model: Model, sources: Sequence[str], num_classes: int, semantic_dim: int, sgi_blocks: int,
                sgi_heads: int) -> MuvaConfig:
        """LVLM-ReID's architecture (our reading, PEERS.md §4.3) on `model`'s backbone and input size (no parts)."""
        base = cls.of(Model.model_validate({**model.model_dump(), "parts": []}), sources, num_classes)
        width = base.clip["vision_cfg"]["width"]
        if width % sgi_heads:
            raise ValueError(f"lvlm_reid.sgi_heads {sgi_heads} must divide the ViT width {width}")
        return replace(base, method="lvlm_reid", semantic_dim=int(semantic_dim), sgi_blocks=int(sgi_blocks),
                       sgi_heads=int(sgi_heads))

    def __post_init__(self) -> None:
        if self.model.rmp.heads == AUTO or self.model.prompts.domain_phrases is None or self.model.clip is None:
            raise ValueError("MuvaConfig needs a resolved model section (MuvaConfig.of resolves one)")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {self.num_classes}")
        n_domains = len(self.prompts.domain_phrases)
        if self.prompts.style == "domain_specific":
            if n_domains == 0:
                raise ValueError("prompts.style 'domain_specific' needs prompts.domain_phrases (one per domain)")
            if self.class_domains is None and n_domains > 1:
                raise ValueError("domain_specific prompts with several domains need class_domains (one id per class)")
        if self.class_domains is not None:
            if len(self.class_domains) != self.num_classes:
                raise ValueError(f"class_domains has {len(self.class_domains)} entries for {self.num_classes} classes")
            if self.prompts.style == "domain_specific" and any(d < 0 or d >= n_domains for d in self.class_domains):
                raise ValueError(f"class_domains must index prompts.domain_phrases (0..{n_domains - 1})")

    @property
    def backbone(self) -> str:
        return self.model.backbone

    @property
    def clip(self) -> dict[str, Any]:
        """The open_clip model config."""
        return self.model.clip  # type: ignore[return-value]  # resolved: never None

    @property
    def image_size(self) -> tuple[int, int]:
        height, width = self.model.image_size
        return height, width

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.model.parts)

    @property
    def part_attention(self) -> str:
        return self.model.part_attention

    @property
    def rmp(self) -> Rmp:
        return self.model.rmp

    @property
    def prompts(self) -> Prompts:
        return self.model.prompts

    @property
    def grid(self) -> PatchGrid:
        """Where the patches fall on the model's input: the grid its part masks live on."""
        return self.model.grid

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
        """Width of the retrieval feature: MUVA's (1 + parts) x embed_dim (2048 for ViT-B-16); the peers'
        ViT width + embed_dim (768 + 512); LVLM-ReID's embed_dim (the refined token)."""
        if self.method == "lvlm_reid":
            return self.clip["embed_dim"]
        if self.method != "muva":
            return self.clip["vision_cfg"]["width"] + self.clip["embed_dim"]
        return self.num_granularities * self.clip["embed_dim"]

    def to_dict(self) -> dict[str, Any]:
        """Plain (JSON/YAML-serialisable) data; `MuvaConfig.from_dict` inverts it."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["model"] = self.model.model_dump()
        for key in ("class_domains", "pixel_mean", "pixel_std"):
            data[key] = None if data[key] is None else list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MuvaConfig:
        """Rebuild from `to_dict`'s plain data."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config fields {sorted(unknown)}; known: {sorted(known)}")
        data = {**data, "model": Model.model_validate(data["model"])}
        for key in ("class_domains", "pixel_mean", "pixel_std"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)
