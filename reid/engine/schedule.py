"""The per-step learning-rate shape that the pre-training steps (CLIP prior, VLM prior, MUSE's SFT) share."""

from __future__ import annotations

import math


def warmup_cosine(step: int, total: int, warmup: int, lr: float, min_lr: float) -> float:
    """Linear warm-up from 0 over `warmup` steps, then cosine from `lr` to `min_lr` at step `total`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))
