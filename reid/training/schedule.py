"""Learning-rate schedules as pure functions of (epoch, step): nothing to restore on resume
but the counters a checkpoint already holds."""

from __future__ import annotations

import bisect
import math

from reid.training.config import PeerImage, Stage1, Stage2


def stage1_lr(config: Stage1, epoch: int) -> float:
    """Per epoch: linear warm-up from `warmup_lr`, then cosine from `lr` to `min_lr` (CLIP-ReID)."""
    if epoch < config.warmup_epochs:
        return config.warmup_lr + (config.lr - config.warmup_lr) * epoch / config.warmup_epochs
    span = max(config.epochs - config.warmup_epochs, 1)
    progress = (epoch - config.warmup_epochs) / span
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1.0 + math.cos(math.pi * progress))


def stage2_factor(config: Stage2, epoch: int, step: int) -> float:
    """Multiplier of the base rates: linear warm-up over the first iterations, x gamma per milestone."""
    warmup = 1.0
    if step < config.warmup_iters:
        warmup = config.warmup_factor + (1.0 - config.warmup_factor) * step / config.warmup_iters
    return warmup * config.gamma ** bisect.bisect_right(sorted(config.milestones), epoch)


def peer_image_factor(config: PeerImage, epoch: int) -> float:
    """WarmupMultiStepLR of the CLIP-ReID lineage at scheduler epoch `epoch` (their code steps it before each
    epoch, so the first epoch is 1): linear warm-up from `warmup_factor`, x gamma per milestone passed."""
    warmup = 1.0
    if epoch < config.warmup_epochs:
        alpha = epoch / config.warmup_epochs
        warmup = config.warmup_factor * (1.0 - alpha) + alpha
    return warmup * config.gamma ** bisect.bisect_right(config.milestones, epoch)
