"""Captioned images → (image, token ids) pairs for contrastive training."""

from __future__ import annotations

from collections.abc import Sequence

import open_clip
import torch
from torch.utils.data import Dataset

from reid.data.loading import Preprocess, sample_rng
from reid.errors import ConfigError
from reid.utils.images import read_image


def tokenize(captions: Sequence[str], context_length: int) -> torch.Tensor:
    """open_clip's tokenizer (CLIP's BPE) → [n, context_length] ids; refuses captions it would cut (a ConfigError).

    A truncated caption loses the attributes at its end and silently teaches the wrong pairs.
    """
    tokens = open_clip.tokenize(list(captions), context_length=context_length)
    cut = (tokens[:, -1] != 0).nonzero().flatten()
    if len(cut):
        text = captions[int(cut[0])]
        raise ConfigError("model.clip.text_cfg.context_length", context_length,
                          f"{len(cut)} captions are longer than the text context of {context_length} tokens, "
                          f"e.g. '{text}'", fix="give the backbone a longer text context (model.clip) or shorten "
                          "the caption templates")
    return tokens


class CaptionSet(Dataset):
    """(image [3, H, W], tokens [S], index); a horizontal flip per (seed, epoch, index) when `flip` > 0."""

    def __init__(self, paths: Sequence[str], tokens: torch.Tensor, preprocess: Preprocess, flip: float = 0.0,
                 seed: int = 0) -> None:
        if len(paths) != len(tokens):
            raise ValueError(f"{len(paths)} images and {len(tokens)} captions differ in number")
        self.paths, self.tokens, self.preprocess = list(paths), tokens, preprocess
        self.flip, self.seed, self.epoch = flip, seed, 0

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        rgb = self.preprocess.resize(read_image(self.paths[index]))
        if self.flip and sample_rng(self.seed, self.epoch, index).random() < self.flip:
            rgb = rgb[:, ::-1]
        return self.preprocess.to_tensor(rgb), self.tokens[index], index
