"""The CLIP backbone from open_clip: building it from a config, loading weights, and fitting
its positional embedding to the re-ID input size (256x128 → a 16x8 patch grid)."""

from __future__ import annotations

import math
import os

import open_clip
import torch
import torch.nn.functional as F
from open_clip.model import _build_vision_tower
from open_clip.transformer import VisionTransformer
from torch import nn

from reid.model.clip_configs import OUR_CONFIGS
from reid.model.configs import MuvaConfig

open_clip.add_model_config(OUR_CONFIGS)  # open_clip.create_model("demo") builds the demo backbone too


def create_clip(config: MuvaConfig, pretrained: str | None = None) -> open_clip.CLIP:
    """Build open_clip's CLIP from `config.clip` at its pretraining input size and load weights.

    `pretrained`: None (random init), an open_clip tag for `config.backbone` (e.g. "openai",
    downloaded by open_clip), or the path of a local open_clip checkpoint.  The positional
    embedding keeps the pretraining grid; `fit_positional_embedding` resizes it afterwards.
    """
    model = open_clip.CLIP(**config.clip)
    if pretrained is None:
        return model
    if os.path.isfile(pretrained):
        path = pretrained
    else:
        tag_cfg = open_clip.get_pretrained_cfg(config.backbone, pretrained)
        if not tag_cfg:
            tags = open_clip.list_pretrained_tags_by_model(config.backbone)
            raise ValueError(
                f"pretrained='{pretrained}' is neither a file nor an open_clip tag of '{config.backbone}' "
                f"(tags: {tags})"
            )
        path = open_clip.download_pretrained(tag_cfg)
    open_clip.load_checkpoint(model, path)
    return model


def create_vision_tower(config: MuvaConfig) -> VisionTransformer:
    """Build only open_clip's image tower (random init): all inference needs, no text tower."""
    clip_cfg = config.clip
    return _build_vision_tower(clip_cfg["embed_dim"], clip_cfg["vision_cfg"], clip_cfg.get("quick_gelu", False))


def interpolate_pos_embed(
    pos_embed: torch.Tensor, new_grid: tuple[int, int], mode: str = "bicubic", old_grid: tuple[int, int] | None = None
) -> torch.Tensor:
    """Resample a ViT positional embedding [1 + Hold*Wold, D] to [1 + H*W, D].

    The first row (CLS) is kept; the patch rows are the row-major Hold x Wold image `old_grid`
    (default: square, as CLIP's are) and are interpolated to `new_grid` = (H, W).
    """
    cls_pos, patch_pos = pos_embed[:1], pos_embed[1:]
    if old_grid is None:
        side = math.isqrt(patch_pos.shape[0])
        if side * side != patch_pos.shape[0]:
            raise ValueError(f"positional embedding with {patch_pos.shape[0]} patch rows is not a square grid")
        old_grid = (side, side)
    if old_grid[0] * old_grid[1] != patch_pos.shape[0]:
        raise ValueError(f"positional embedding with {patch_pos.shape[0]} patch rows is not a {old_grid} grid")
    grid = patch_pos.reshape(1, old_grid[0], old_grid[1], -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=new_grid, mode=mode, align_corners=False).to(pos_embed.dtype)
    patch_pos = grid.permute(0, 2, 3, 1).reshape(new_grid[0] * new_grid[1], -1)
    return torch.cat([cls_pos, patch_pos], dim=0)


def fit_positional_embedding(visual: VisionTransformer, config: MuvaConfig) -> None:
    """Resize `visual`'s positional embedding (in place) to the patch grid of `config.image_size`."""
    grid = config.patch_grid
    if tuple(visual.grid_size) != grid:
        with torch.no_grad():
            resized = interpolate_pos_embed(visual.positional_embedding, grid, config.pos_embed_interpolation,
                                            tuple(visual.grid_size))
        visual.positional_embedding = nn.Parameter(resized)
        visual.grid_size = grid
        visual.image_size = tuple(config.image_size)
