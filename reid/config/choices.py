"""The closed sets the configuration chooses from, taken from the constants-only library modules that define them."""

from __future__ import annotations

from typing import Any

from reid.data.layouts import LAYOUTS
from reid.grounding.parts import PARTS as PART_NAMES
from reid.model.clip_configs import BACKBONE_CONFIGS

BUILTIN_DATASETS: tuple[str, ...] = tuple(LAYOUTS)
BACKBONES: tuple[str, ...] = tuple(BACKBONE_CONFIGS)
CUSTOM_KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
DEVICE_PATTERN = r"^(auto|cpu|mps|cuda(:[0-9]+)?)$"

__all__ = ["BACKBONES", "BUILTIN_DATASETS", "CUSTOM_KEY_PATTERN", "DEVICE_PATTERN", "PART_NAMES", "backbone_geometry"]


def backbone_geometry(backbone: str, clip: dict[str, Any] | None = None) -> tuple[int, int]:
    """(patch size, vision width) of a named backbone or of an explicit open_clip config."""
    vision = (clip or BACKBONE_CONFIGS[backbone])["vision_cfg"]
    return int(vision["patch_size"]), int(vision["width"])
