"""Contrastive image–caption pre-training of a CLIP (open_clip's model, tokenizer and `ClipLoss`).

The result is an ordinary open_clip checkpoint (`{"state_dict": …}`) that `model.pretrained`
takes like any local CLIP file. Resumable like the re-ID stages: a state after every epoch
(weights, optimiser, counters, RNG, log history) fingerprinted with the inputs, parameters and
code; `kill -9` and a re-run end with the weights of an uninterrupted run.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import open_clip
import polars as pl
import torch
from torch.utils.data import DataLoader, Subset

from reid.data.loading import Preprocess
from reid.engine.distributed import Dist
from reid.engine.loop import ModelTask, fit
from reid.engine.schedule import warmup_cosine
from reid.engine.state import fingerprint
from reid.utils.files import atomic_save
from reid.pretrain.config import Pretrain
from reid.pretrain.data import CaptionSet, tokenize
from reid.pretrain.zero_shot import RetrievalResult, text_to_image_retrieval
from reid.utils.device import autocast, resolve_device
from reid.utils.progress import progress

PIXEL_MEAN = PIXEL_STD = (0.5, 0.5, 0.5)  # MUVA's normalisation: the prior sees pixels as the re-ID stages will


def clip_input_size(clip_config: dict[str, Any]) -> tuple[int, int]:
    """(height, width) the CLIP's vision tower is built for (its pretraining resolution)."""
    size = clip_config["vision_cfg"]["image_size"]
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def lr_at(config: Pretrain, step: int, total: int) -> float:
    """Linear warm-up from 0, then cosine to `min_lr`, per step."""
    warmup = int(round(config.warmup_epochs * total / config.epochs))
    return warmup_cosine(step, total, warmup, config.lr, config.min_lr)


def save_open_clip(model: open_clip.CLIP, clip_config: dict[str, Any], path: str | os.PathLike,
                   extra: dict[str, Any] | None = None) -> None:
    """Write an open_clip-loadable checkpoint (`open_clip.load_checkpoint` reads "state_dict"), atomically
    (a full disk is a `ReidError`, the previous file left whole)."""
    payload = {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "clip_config": clip_config, "extra": extra or {}}
    atomic_save(payload, path)


@torch.no_grad()
def zero_shot(model: open_clip.CLIP, images: CaptionSet, identities: np.ndarray, device: torch.device,
              batch_size: int, workers: int) -> RetrievalResult:
    """Text→image retrieval of the held-out pairs (each caption against every held-out image)."""
    model.eval()
    image_feats, text_feats = [], []
    loader = DataLoader(images, batch_size=batch_size, shuffle=False, num_workers=workers)
    for x, tokens, _ in progress(loader, "zero-shot check", total=len(loader), unit="batch"):
        with autocast(device):
            image_feats.append(model.encode_image(x.to(device)).float())
            text_feats.append(model.encode_text(tokens.to(device)).float())
    return text_to_image_retrieval(torch.cat(text_feats), torch.cat(image_feats), identities, identities)


def run_pretrain(
    pairs: pl.DataFrame,
    clip_config: dict[str, Any],
    config: Pretrain,
    out_path: str | os.PathLike,
    state_dir: str | os.PathLike,
    live_dir: str | os.PathLike,
) -> dict[str, Any]:
    """Train a CLIP built from `clip_config` on `pairs` (columns path, caption, identity, split).

    Rows with split "train" train, rows with split "test" are the zero-shot check after every
    epoch. Writes the open_clip checkpoint to `out_path`; returns the last epoch's record.
    """
    device = resolve_device(config.device)
    context = clip_config["text_cfg"]["context_length"]
    preprocess = Preprocess(clip_input_size(clip_config), PIXEL_MEAN, PIXEL_STD)
    train, test = (pairs.filter(pl.col("split") == s) for s in ("train", "test"))
    if train.height < config.batch_size:
        raise ValueError(f"{train.height} training pairs are fewer than pretrain.batch_size={config.batch_size}")
    train_tokens = tokenize(train["caption"].to_list(), context)
    train_set = CaptionSet(train["path"].to_list(), train_tokens, preprocess, config.flip, config.seed)
    test_set = CaptionSet(test["path"].to_list(), tokenize(test["caption"].to_list(), context), preprocess)
    test_ids = test["identity"].to_numpy()

    torch.manual_seed(config.seed)
    model = open_clip.CLIP(**clip_config).to(device)
    steps_per_epoch = train.height // config.batch_size  # full batches only: every step sees batch_size negatives
    expected = fingerprint({"clip": clip_config, "pretrain": config.model_dump(exclude={"data"}), "paths": train_set.paths},
                           train_tokens)
    task = ClipTask(model, config, train_set, test_set, test_ids, steps_per_epoch, device)
    history = fit(task, expected, state_dir, live_dir, Dist(0, 1, device))
    save_open_clip(model, clip_config, out_path, extra={"stage": "pretrain", **(history[-1] if history else {})})
    return history[-1] if history else {}


class ClipTask(ModelTask):
    """Pre-training as an engine task: each epoch a seeded permutation of full batches, the temperature
    clamped after every step, the zero-shot check after every epoch."""

    name = "pretrain"
    weights = {"contrastive": 1.0}

    def __init__(self, model: open_clip.CLIP, config: Pretrain, train_set: CaptionSet, test_set: CaptionSet,
                 test_ids: np.ndarray, steps_per_epoch: int, device: torch.device) -> None:
        self.model, self.config, self.train_set, self.test_set, self.test_ids = (
            model, config, train_set, test_set, test_ids)
        self.steps_per_epoch, self.device = steps_per_epoch, device
        self.epochs = config.epochs
        self.total = steps_per_epoch * config.epochs
        # lr_at is the rate itself: a base_lr of 1 applies it unchanged
        self.optimizer = torch.optim.AdamW(_decay_groups(model, config.weight_decay), lr=config.lr)
        self.loss_fn = open_clip.ClipLoss()

    def lr(self, epoch: int, step: int) -> float:
        return lr_at(self.config, step, self.total)

    def begin_epoch(self, epoch: int) -> tuple[DataLoader, int]:
        config = self.config
        self.train_set.epoch = epoch
        order = torch.randperm(len(self.train_set), generator=torch.Generator().manual_seed(config.seed * 1000 + epoch))
        loader = DataLoader(Subset(self.train_set, order[: self.steps_per_epoch * config.batch_size].tolist()),
                            batch_size=config.batch_size, num_workers=config.workers,
                            pin_memory=self.device.type == "cuda")
        self.model.train()
        return loader, self.steps_per_epoch

    def step(self, batch: list[torch.Tensor]) -> tuple[dict[str, torch.Tensor], None]:
        images, tokens, _ = batch
        with autocast(self.device):
            image_features, text_features, logit_scale = self.model(images.to(self.device), tokens.to(self.device))
            loss = self.loss_fn(image_features.float(), text_features.float(), logit_scale.float())
        return {"contrastive": loss}, None

    def after_step(self, batch: list[torch.Tensor], out: None, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """CLIP's clamp (the temperature never sharpens past 1/100); the loss, in float64 like a Python sum."""
        with torch.no_grad():
            self.model.logit_scale.clamp_(0, math.log(100))
        return torch.tensor([losses["contrastive"].item()], dtype=torch.float64)

    def postfix(self, shown: dict[str, float]) -> dict[str, str]:
        return {"loss": f"{shown['contrastive']:.3f}", "scale": f"{self.model.logit_scale.exp().item():.1f}"}

    def end_epoch(self, epoch: int, sums: list[float]) -> dict[str, float]:
        """The zero-shot check of the held-out pairs; the record, also printed."""
        config = self.config
        retrieval = zero_shot(self.model, self.test_set, self.test_ids, self.device, config.batch_size, config.workers)
        record = {"loss/contrastive": sums[0] / self.steps_per_epoch,
                  "logit_scale": self.model.logit_scale.exp().item(), "lr": self.optimizer.param_groups[0]["lr"],
                  **{f"zero_shot/{k}": v for k, v in retrieval.as_dict().items() if "@" in k}}
        print(f"pretrain epoch {epoch + 1}: loss {record['loss/contrastive']:.3f}, zero-shot text→image "
              f"R@1 {record['zero_shot/R@1']:.1f} % (chance {record['zero_shot/chance@1']:.1f} %)")
        return record


def _decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups as CLIP trains: no decay on gains, biases, embeddings and the temperature."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        exempt = p.ndim < 2 or "embedding" in name or "logit_scale" in name or name.endswith(("class_embedding", "token"))
        (no_decay if exempt else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay, "base_lr": 1.0},
            {"params": no_decay, "weight_decay": 0.0, "base_lr": 1.0}]
