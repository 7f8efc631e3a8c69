"""The named CLIP backbones as open_clip-format configs (the same keys as open_clip's JSON
model configs): plain data importing nothing, so the configuration schema can name them."""

from __future__ import annotations

from typing import Any

BACKBONE_CONFIGS: dict[str, dict[str, Any]] = {
    # open_clip's ViT-B-16 (OpenAI weights are trained with QuickGELU, hence quick_gelu).
    "ViT-B-16": {
        "embed_dim": 512,
        "quick_gelu": True,
        "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12},
    },
    # Small CLIP of the embedded demo, pre-trained here on captioned synthetic people (stage
    # `pretrain`, SPEC §8): trains in minutes on 2 CPU cores.  Like ViT-B-16 it is pre-trained
    # at a lower resolution (128x64, an 8x4 grid: 32 tokens, a person filling the frame) and
    # its positional embedding is interpolated to the re-ID grid; same patch size, so the
    # 16x8 pseudo-label masks fit it unchanged.
    "demo": {
        "embed_dim": 128,
        "quick_gelu": True,
        "vision_cfg": {"image_size": [128, 64], "layers": 3, "width": 128, "head_width": 32, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 4, "layers": 2},
    },
}
