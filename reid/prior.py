"""A CLIP prior as an encoder: what Re-ID training starts from, evaluated like a trained model.

An open_clip checkpoint (the demo's `models/pretrain/clip.pt`, or a local copy of OpenAI's ViT-B-16
weights as open_clip stores them) embeds an image by its global image feature: CLIP's image
embedding (`encode_image`, the projected CLS token), L2-normalised where every retrieval feature is
(`reid.evaluation.extract.encode_batch`). The prior sees its own input size (the resolution it was
pre-trained at: no positional-embedding interpolation, so the feature is exactly open_clip's) and the
pixels the Re-ID models see there: the project's `Preprocess` with the Re-ID models' mean/std.

`ClipPrior` offers what inference and evaluation read of a Re-ID image side (`config`, `features`),
so `reid.load_model`, `reid embed` and `reid evaluate --dataset` take a prior unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import open_clip
import torch
from open_clip.factory import load_state_dict
from open_clip.transformer import VisionTransformer
from torch import nn

from reid.errors import InputError
from reid.model.clip_configs import BACKBONE_CONFIGS
from reid.model.configs import MuvaConfig
from reid.model.muva import ReidFeatures
from reid.utils.files import reason_of

METHOD = "clip_prior"  # `config.method` of a prior, as a record names the method it evaluated


@dataclass(frozen=True)
class PriorConfig:
    """The keys of `MuvaConfig` that inference and evaluation read, for a prior: no parts, no masks."""

    clip: dict[str, Any]  # the open_clip model config
    image_size: tuple[int, int]  # (height, width) the vision tower was built for
    pixel_mean: tuple[float, float, float] = MuvaConfig.pixel_mean  # the Re-ID models' normalisation
    pixel_std: tuple[float, float, float] = MuvaConfig.pixel_std
    method: str = METHOD
    parts: tuple[str, ...] = ()
    part_attention: str = "none"

    @property
    def feature_dim(self) -> int:
        """D of the image embedding."""
        return int(self.clip["embed_dim"])


class ClipPrior(nn.Module):
    """open_clip's vision tower: images [B, 3, H, W] at `config.image_size` → CLIP image embeddings."""

    def __init__(self, visual: VisionTransformer, clip_config: dict[str, Any]) -> None:
        super().__init__()
        self.visual = visual
        self.config = PriorConfig(clip_config, tuple(int(s) for s in visual.image_size))

    def features(self, images: torch.Tensor, part_masks: torch.Tensor | None = None) -> ReidFeatures:
        """The image embedding as every feature of `ReidFeatures` (a prior has no BNNeck and no masks)."""
        embedding = self.visual(images)
        return ReidFeatures(embedding, embedding, None, embedding)


def load_prior(path: str | os.PathLike, payload: Any) -> ClipPrior:
    """The prior in the open_clip checkpoint `path` (`payload`: its `torch.load`ed contents, None for a
    file torch cannot read, such as .safetensors), in eval mode on CPU.

    The architecture is the file's `clip_config` (written by the pretrain stage) or else the named
    backbone (`reid.model.clip_configs`) whose parameters have the file's shapes. Anything else is an
    `InputError`: the file is neither a Re-ID checkpoint nor an open_clip one.
    """
    try:
        state = load_state_dict(str(path))  # open_clip's reader: {"state_dict": …}, .safetensors, "module."
    except Exception as exc:
        raise _neither(path, f"unreadable ({reason_of(exc)})") from None
    config = payload.get("clip_config") if isinstance(payload, dict) else None
    config = config if isinstance(config, dict) else fitting_backbone(state)
    if config is None:
        raise _neither(path, f"it holds no CLIP config (clip_config) and its weights fit no backbone "
                             f"({', '.join(BACKBONE_CONFIGS)})")
    try:
        clip = open_clip.CLIP(**config)
        clip.load_state_dict(state)
    except (TypeError, KeyError, ValueError, RuntimeError) as exc:
        raise _neither(path, reason_of(exc)) from None
    return ClipPrior(clip.visual, config).eval()


def fitting_backbone(state: dict[str, Any]) -> dict[str, Any] | None:
    """The config of the named backbone whose CLIP has exactly the parameter names and shapes of `state`."""
    shapes = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    for config in BACKBONE_CONFIGS.values():
        with torch.device("meta"):  # shapes only: no memory, no initialisation
            clip = open_clip.CLIP(**config)
        if {k: tuple(v.shape) for k, v in clip.state_dict().items()} == shapes:
            return config
    return None


def _neither(path: str | os.PathLike, reason: str) -> InputError:
    return InputError(f"{path}: neither a Re-ID checkpoint (such as models/muva.pt) nor an open_clip checkpoint "
                      f"(such as models/pretrain/clip.pt): {reason}")
