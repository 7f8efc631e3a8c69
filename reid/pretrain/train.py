"""Contrastive image–caption pre-training of a CLIP (open_clip's model, tokenizer and `ClipLoss`).

The result is an ordinary open_clip checkpoint (`{"state_dict": …}`) that `model.pretrained`
takes like any local CLIP file. Resumable like the re-ID stages: a state after every epoch
(weights, optimiser, counters, RNG, log history) fingerprinted with the inputs, parameters and
code; `kill -9` and a re-run end with the weights of an uninterrupted run.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import polars as pl
import torch
from torch.utils.data import DataLoader, Subset

from reid.data.loading import Preprocess
from reid.model.checkpoint import atomic_save
from reid.pretrain.config import PretrainConfig
from reid.pretrain.data import CaptionSet, tokenize
from reid.pretrain.zero_shot import RetrievalResult, text_to_image_retrieval
from reid.training.distributed import Dist
from reid.training.guards import check_finite
from reid.training.logging import EpochLog
from reid.training.state import fingerprint, resume_training, save_state
from reid.utils.device import autocast, autocast_dtype, resolve_device
from reid.utils.progress import progress, progress_bar

PIXEL_MEAN = PIXEL_STD = (0.5, 0.5, 0.5)  # MUVA's normalisation: the prior sees pixels as the re-ID stages will
CHECKPOINT = Path("models/pretrain/clip.pt")  # where the `pretrain` stage writes the prior (dvc.yaml)


def clip_input_size(clip_config: dict[str, Any]) -> tuple[int, int]:
    """(height, width) the CLIP's vision tower is built for (its pretraining resolution)."""
    size = clip_config["vision_cfg"]["image_size"]
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def lr_at(config: PretrainConfig, step: int, total: int) -> float:
    """Linear warm-up from 0, then cosine to `min_lr`, per step."""
    warmup = int(round(config.warmup_epochs * total / config.epochs))
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress_ = (step - warmup) / max(total - warmup, 1)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1.0 + math.cos(math.pi * progress_))


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
    config: PretrainConfig,
    out_path: str | os.PathLike,
    state_dir: str | os.PathLike,
    live_dir: str | os.PathLike,
) -> dict[str, Any]:
    """Train a CLIP built from `clip_config` on `pairs` (columns path, caption, identity, split).

    Rows with split "train" train, rows with split "test" are the zero-shot check after every
    epoch. Writes the open_clip checkpoint to `out_path`; returns the last epoch's record.
    """
    device = resolve_device(config.device)
    ctx = Dist(0, 1, device)
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
    optimizer = torch.optim.AdamW(_decay_groups(model, config.weight_decay), lr=config.lr)
    scaler = torch.amp.GradScaler(enabled=autocast_dtype(device) == torch.float16)
    loss_fn = open_clip.ClipLoss()
    steps_per_epoch = train.height // config.batch_size  # full batches only: every step sees batch_size negatives
    total = steps_per_epoch * config.epochs
    expected = fingerprint({"clip": clip_config, "pretrain": config.to_dict(), "paths": train_set.paths},
                           train_tokens)
    start, step, history = resume_training(state_dir, expected, model, optimizer, scaler)
    log = EpochLog(live_dir, history)
    for epoch in range(start, config.epochs):
        began = time.perf_counter()
        train_set.epoch = epoch
        order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(config.seed * 1000 + epoch))
        loader = DataLoader(Subset(train_set, order[: steps_per_epoch * config.batch_size].tolist()),
                            batch_size=config.batch_size, num_workers=config.workers,
                            pin_memory=device.type == "cuda")
        model.train()
        loss_sum = 0.0
        bar = progress_bar(loader, f"pretrain epoch {epoch + 1}/{config.epochs}", total=steps_per_epoch, unit="batch")
        for images, tokens, _ in bar:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(config, step, total)
            with autocast(device):
                image_features, text_features, logit_scale = model(images.to(device), tokens.to(device))
                loss = loss_fn(image_features.float(), text_features.float(), logit_scale.float())
            shown = check_finite({"contrastive": loss}, ctx, f"pretrain epoch {epoch + 1} step {step + 1}",
                                 state_dir, epoch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            with torch.no_grad():  # CLIP's clamp: the temperature never sharpens past 1/100
                model.logit_scale.clamp_(0, math.log(100))
            step += 1
            loss_sum += shown["contrastive"]
            bar.set_postfix(loss=f"{shown['contrastive']:.3f}", scale=f"{model.logit_scale.exp().item():.1f}")
        retrieval = zero_shot(model, test_set, test_ids, device, config.batch_size, config.workers)
        record = {"epoch": epoch, "loss/contrastive": loss_sum / steps_per_epoch,
                  "logit_scale": model.logit_scale.exp().item(), "lr": optimizer.param_groups[0]["lr"],
                  **{f"zero_shot/{k}": v for k, v in retrieval.as_dict().items() if "@" in k},
                  "time/epoch_s": time.perf_counter() - began}
        history.append(record)
        save_state(state_dir, {"fingerprint": expected, "epoch": epoch + 1, "step": step,
                               "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                               "scaler": scaler.state_dict(), "history": history})
        log.log(record)
        print(f"pretrain epoch {epoch + 1}: loss {record['loss/contrastive']:.3f}, zero-shot text→image "
              f"R@1 {record['zero_shot/R@1']:.1f} % (chance {record['zero_shot/chance@1']:.1f} %)")
    log.close()
    save_open_clip(model, clip_config, out_path, extra={"stage": "pretrain", **(history[-1] if history else {})})
    return history[-1] if history else {}


def _decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups as CLIP trains: no decay on gains, biases, embeddings and the temperature."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        exempt = p.ndim < 2 or "embedding" in name or "logit_scale" in name or name.endswith(("class_embedding", "token"))
        (no_decay if exempt else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
