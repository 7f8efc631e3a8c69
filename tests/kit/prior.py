"""A CLIP prior file for the tests: the tiny pre-training CLIP, randomly initialised, written by the
pretrain stage's own writer (so the file is exactly what `models/pretrain/clip.pt` is, without training)."""

from __future__ import annotations

from pathlib import Path

import open_clip
import torch

from reid.pretrain.train import save_open_clip
from tests.kit.clip import PRETRAIN_CLIP


def write_prior(path: Path, seed: int = 0) -> open_clip.CLIP:
    """Write a random `PRETRAIN_CLIP` to `path` as the pretrain stage does; return it (eval mode)."""
    torch.manual_seed(seed)
    clip = open_clip.CLIP(**PRETRAIN_CLIP).eval()
    save_open_clip(clip, PRETRAIN_CLIP, path)
    return clip
