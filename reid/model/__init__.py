"""MUVA on open_clip: multi-grained image encoder with AM-MSA, prompts, checkpoints (paper §3.1-3.2)."""

from reid.model.checkpoint import load_checkpoint, load_for_inference, save_checkpoint
from reid.model.configs import BACKBONE_CONFIGS, DOMAIN_STYLE_PHRASES, PART_NAMES, MuvaConfig, PromptConfig, RmpConfig
from reid.model.image_encoder import record_attention
from reid.model.muva import (
    MuvaModel,
    MuvaOutput,
    ReidEncoder,
    ReidFeatures,
    build_muva,
    build_reid_encoder,
    freeze_patch_projection,
)
from reid.model.parameters import count_parameters

__all__ = [
    "BACKBONE_CONFIGS",
    "DOMAIN_STYLE_PHRASES",
    "PART_NAMES",
    "MuvaConfig",
    "MuvaModel",
    "MuvaOutput",
    "PromptConfig",
    "ReidEncoder",
    "ReidFeatures",
    "RmpConfig",
    "build_muva",
    "build_reid_encoder",
    "count_parameters",
    "freeze_patch_projection",
    "load_checkpoint",
    "load_for_inference",
    "record_attention",
    "save_checkpoint",
]
