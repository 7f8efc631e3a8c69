"""The one tiny open_clip config of the tests: two 32-wide ViT layers over 16-pixel patches, so a
model trains in seconds on a CPU."""

from __future__ import annotations

IMAGE_SIZE = (64, 32)  # 4 x 2 patches
TINY_CLIP = {
    "embed_dim": 16,
    "quick_gelu": True,
    "vision_cfg": {"image_size": list(IMAGE_SIZE), "layers": 2, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
# Pre-training's: square (64 → a 4 x 4 grid) as the demo CLIP is pre-trained on 128 x 128, twice as
# wide with a second text layer, so the contrastive loss falls well clear of chance in 6 epochs.
PRETRAIN_CLIP = {
    **TINY_CLIP,
    "embed_dim": 32,
    "vision_cfg": {**TINY_CLIP["vision_cfg"], "image_size": 64, "width": 64, "head_width": 32},
    "text_cfg": {**TINY_CLIP["text_cfg"], "width": 64, "layers": 2},
}
