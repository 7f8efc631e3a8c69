"""Stage-1: learn the multi-grained prompts of every identity against a fixed visual memory.

Only the prompt tokens train.  The visual memory M1 holds the L2-normalised per-identity
means of the pre-BNNeck multi-grained image features, extracted once with the pseudo-label
masks G.  Each step draws a P x K batch of identities and minimises the cross-modal
prototypical loss of their text features against all of M1.  At the end the learned
prompts are encoded once more into the text memory M_T that stage-2 aligns images with.

Vision-only (paper Table 6) skips the learning: the stage then only writes the initial
model (CLIP weights + fresh local tokens, RMP, BNNeck, classifier) for stage-2 to start from.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from reid.config.checks import check_identities
from reid.data.protocol import read_protocol
from reid.errors import ArtifactError, ConfigError, building
from reid.model.checkpoint import atomic_save, reason_of, save_checkpoint
from reid.model.configs import MuvaConfig
from reid.model.muva import MuvaModel, build_muva
from reid.pretrain import train as pretrain_train
from reid.training.config import Stage1Config, TrainConfig
from reid.training.data import TrainingData, load_training_data
from reid.training.distributed import (
    Dist,
    all_reduce_sum,
    barrier,
    init_distributed,
    shutdown,
)
from reid.training.features import extract_training_features
from reid.training.guards import check_finite
from reid.training.logging import EpochLog
from reid.training.losses import prototype_loss
from reid.training.memory import class_means
from reid.training.model_config import muva_config
from reid.training.sampler import IdentityBatchSampler
from reid.training.schedule import set_lr, stage1_lr
from reid.training.state import fingerprint, load_state, save_state
from reid.utils.device import autocast
from reid.utils.progress import progress_bar

MODEL_FILE = "model.pt"
TEXT_MEMORY_FILE = "text_memory.pt"


class TextSide(nn.Module):
    """The prompts + text encoder as one module, so DDP can average the prompt gradients."""

    def __init__(self, model: MuvaModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(labels)


@torch.no_grad()
def encode_text_memory(model: MuvaModel, num_classes: int, device: torch.device, batch: int = 64) -> torch.Tensor:
    """M_T: the encoded learned prompts of every identity, [C, F] (raw, as the reference code keeps it)."""
    rows = []
    for start in range(0, num_classes, batch):
        labels = torch.arange(start, min(start + batch, num_classes), device=device)
        with autocast(device):
            rows.append(model.encode_text(labels).float())
    return torch.cat(rows).cpu()


def train_stage1(
    model: dict, pretrained: str | None, train: TrainConfig, stage: Stage1Config,
    protocol_dir: str | Path, masks_path: str | Path, out_dir: str | Path, state_dir: str | Path, live_dir: str | Path,
) -> None:
    """Stage `stage1` from its files: protocol_dir/{train.parquet,protocol.json} + masks → out_dir.

    `model`: the plain `model` params section; `pretrained`: its CLIP weights. Joins the
    process group torchrun prepared, if any. A vision-only run learns nothing, yet still makes
    `state_dir` and an epoch log in `live_dir` (the outputs dvc.yaml declares).
    """
    protocol_dir = Path(protocol_dir)
    data = load_training_data(protocol_dir / "train.parquet", masks_path)
    check_identities(data.num_classes, train.ids_per_batch)
    with building("model"):
        config = muva_config(model, read_protocol(protocol_dir / "protocol.json")["sources"],
                             data.num_classes, data.class_domains)
    ctx = init_distributed(train.device)
    run_stage1(data, config, pretrained, train, stage, out_dir, state_dir, live_dir, ctx)
    if train.vision_only and ctx.is_main:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        EpochLog(Path(live_dir), [{"epoch": 0, "vision_only": 1.0}]).close()
    shutdown(ctx)


def run_stage1(
    data: TrainingData,
    config: MuvaConfig,
    pretrained: str | None,
    train: TrainConfig,
    stage: Stage1Config,
    out_dir: str | Path,
    state_dir: str | Path,
    live_dir: str | Path,
    ctx: Dist,
) -> dict[str, float]:
    """Train the prompts (unless vision-only); write out_dir/model.pt (+ text_memory.pt). Returns the last epoch's log."""
    data.check_fits(config.num_patches)
    check_pretrained(pretrained)
    torch.manual_seed(train.seed)
    model = build_muva(config, pretrained).to(ctx.device)
    out_dir = Path(out_dir)
    record: dict[str, float] = {}
    if not train.vision_only:
        record = _learn_prompts(model, pretrained, data, train, stage, state_dir, live_dir, ctx)
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_checkpoint(model, out_dir / MODEL_FILE, extra={"stage": 1, "vision_only": train.vision_only, **record})
        if not train.vision_only:
            atomic_save(encode_text_memory(model, config.num_classes, ctx.device), out_dir / TEXT_MEMORY_FILE)
    barrier(ctx)
    return record


def check_pretrained(pretrained: str | None) -> None:
    """Fail before building anything if `model.pretrained` names a local file that is missing or unreadable.

    The `pretrain` stage's own checkpoint (`reid.pretrain.train.CHECKPOINT`) is an upstream
    artifact: missing or unreadable (read memory-mapped, so a truncated or garbage file costs
    only its zip directory), the error says to re-run that stage. Another missing file is the
    user's: a ConfigError (open_clip reads, and judges, the files it loads). open_clip tags
    ("openai") and None pass through.
    """
    if pretrained is None:
        return
    path = Path(pretrained)
    if path.resolve() == Path(pretrain_train.CHECKPOINT).resolve():
        if not path.is_file():
            raise ArtifactError(path, "pretrain")
        try:
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as exc:
            raise ArtifactError(path, "pretrain", f"is unreadable ({reason_of(exc)})") from exc
    elif ":" not in pretrained and (path.suffix in (".pt", ".pth", ".bin", ".safetensors") or len(path.parts) > 1) \
            and not path.is_file():  # a path (not a tag, nor a hub reference) to nothing
        raise ConfigError("model.pretrained", pretrained, "no such file",
                          "give an existing open_clip checkpoint, an open_clip tag (e.g. openai) or null")


def _learn_prompts(
    model: MuvaModel,
    pretrained: str | None,
    data: TrainingData,
    train: TrainConfig,
    stage: Stage1Config,
    state_dir: str | Path,
    live_dir: str | Path,
    ctx: Dist,
) -> dict[str, float]:
    """The stage-1 loop over epochs, resuming from `state_dir` when its fingerprint matches."""
    model.requires_grad_(False)
    model.prompts.tokens.requires_grad_(True)
    expected = fingerprint(
        {"model": model.config.to_dict(), "pretrained": pretrained, "train": train.to_dict(),
         "stage": stage.__dict__, "world": ctx.world},
        data.labels, data.masks,
    )
    optimizer = torch.optim.Adam(
        [{"params": [model.prompts.tokens], "base_lr": stage.lr}], lr=stage.lr, weight_decay=stage.weight_decay
    )
    state = load_state(state_dir, expected)
    if state is None:
        features = extract_training_features(
            model.image, data.dataset(model.config), train.memory_batch_size, train.workers, ctx,
            after_bnneck=False, desc="stage-1 visual memory",
        )
        memory = class_means(features, data.labels.to(ctx.device), data.num_classes)
        start, history = 0, []
    else:  # only the prompts train: they, the optimiser and the memory are the whole state
        with torch.no_grad():
            model.prompts.tokens.copy_(state["prompts"])
        optimizer.load_state_dict(state["optimizer"])
        memory, start, history = state["memory"].to(ctx.device), state["epoch"], state["history"]
    text_side = TextSide(model)
    if ctx.enabled:
        text_side = DistributedDataParallel(text_side, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    sampler = IdentityBatchSampler(data.labels, train.ids_per_batch, train.images_per_id, train.seed, ctx.rank, ctx.world)
    log = EpochLog(live_dir, history, enabled=ctx.is_main)
    for epoch in range(start, stage.epochs):
        began = time.perf_counter()
        lr = stage1_lr(stage, epoch)
        set_lr(optimizer, lr / stage.lr)
        sampler.set_epoch(epoch)
        loss_sum, correct, count = _epoch(text_side, optimizer, sampler, data.labels, memory, ctx, state_dir, epoch, stage)
        record = {"epoch": epoch, "loss/prototype": loss_sum / count, "acc/text_to_memory": correct / count,
                  "lr": lr, "time/epoch_s": time.perf_counter() - began}
        history.append(record)
        if ctx.is_main:
            save_state(state_dir, {"fingerprint": expected, "epoch": epoch + 1, "prompts": model.prompts.tokens.detach().cpu(),
                                   "optimizer": optimizer.state_dict(), "memory": memory.cpu(), "history": history})
            log.log(record)
        barrier(ctx)
    log.close()
    return history[-1] if history else {}


def _epoch(
    text_side: nn.Module,
    optimizer: torch.optim.Optimizer,
    sampler: IdentityBatchSampler,
    labels: torch.Tensor,
    memory: torch.Tensor,
    ctx: Dist,
    state_dir: str | Path,
    epoch: int,
    stage: Stage1Config,
) -> list[float]:
    """One pass over the identity batches; returns (loss sum, correct, identities) summed over ranks.

    A batch's loss is over its distinct identities: each appears K times in a P x K batch, so
    the mean over images equals the mean over identities, at 1/K of the text encodings.
    """
    labels = labels.to(ctx.device)
    totals = torch.zeros(3, device=ctx.device)
    bar = progress_bar(sampler, f"stage-1 epoch {epoch + 1}/{stage.epochs}", unit="batch")
    for batch in bar:
        ids = torch.unique(labels[torch.as_tensor(batch, device=ctx.device)])
        with autocast(ctx.device):
            text = text_side(ids)
        loss = prototype_loss(text, memory, ids)
        shown = check_finite({"prototype": loss}, ctx, f"stage-1 epoch {epoch + 1}", state_dir, epoch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            correct = (F.normalize(text.float(), dim=1) @ memory.t()).argmax(1).eq(ids).sum()
        totals += torch.stack([loss.detach() * len(ids), correct.float(), torch.tensor(float(len(ids)), device=ctx.device)])
        bar.set_postfix(loss=f"{shown['prototype']:.3f}")
    return all_reduce_sum(totals, ctx).tolist()
