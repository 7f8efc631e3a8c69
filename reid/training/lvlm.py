"""LVLM-ReID's two phases on the one training engine (our reading of its abstract, PEERS.md §4.3).

stage1: the SGI, the semantic projection, the BNNeck and the classifier learn on the frozen ViT
        (`sgi_warmup_epochs`): a random SGI on a trained ViT would otherwise send it noise first;
stage2: everything end to end (ViT, SGI, heads) with ID + batch-hard triplet, the CLIP-ReID
        lineage's Adam and WarmupMultiStepLR (`lvlm_reid.image`).
Both read each training image's semantic token from stage `semantic`'s table: the VLM is frozen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from reid.data.protocol import read_protocol
from reid.engine.distributed import Dist, barrier, ddp, shutdown
from reid.engine.loop import ModelTask, fit
from reid.engine.state import fingerprint
from reid.errors import ArtifactError, building
from reid.model.checkpoint import load_checkpoint, save_checkpoint
from reid.model.configs import MuvaConfig
from reid.model.factory import build_model
from reid.model.lvlm_reid import LvlmModel
from reid.model.params import Model
from reid.training.config import LvlmReid, Train
from reid.training.data import TrainingData
from reid.training.id_log import IdAccuracyLog
from reid.training.losses import id_loss
from reid.training.peers import peer_data
from reid.training.peer_losses import batch_hard_triplet
from reid.training.sampler import IdentityBatchSampler
from reid.training.schedule import peer_image_factor
from reid.utils.device import autocast
from reid.vlm.semantic import read_tokens

MODEL_FILE = "model.pt"


def trainable(model: LvlmModel, end_to_end: bool) -> list[dict]:
    """Adam groups of what a phase trains (stage 1: all but the ViT): biases at lr x bias_lr_factor."""
    model.requires_grad_(True)
    model.image.bnneck.bias.requires_grad_(False)
    if not end_to_end:
        model.image.backbone().requires_grad_(False)
    return [n for n, p in model.named_parameters() if p.requires_grad]


class LvlmTask(ModelTask, IdAccuracyLog):
    """One phase as an engine task: ID on the BNNeck feature's logits + triplet on the feature before it."""

    def __init__(self, model: LvlmModel, section: LvlmReid, data: TrainingData, tokens: torch.Tensor, train: Train,
                 ctx: Dist, end_to_end: bool) -> None:
        self.model, self.section, self.train, self.ctx, self.end_to_end = model, section, train, ctx, end_to_end
        self.name = "image" if end_to_end else "sgi"
        self.epochs = section.image.epochs if end_to_end else section.sgi_warmup_epochs
        image = section.image
        names = set(trainable(model, end_to_end))
        named = [(n, p) for n, p in model.named_parameters() if n in names]
        groups = [{"params": [p for n, p in named if not n.endswith("bias")], "base_lr": image.lr},
                  {"params": [p for n, p in named if n.endswith("bias")], "base_lr": image.lr * image.bias_lr_factor}]
        self.optimizer = torch.optim.Adam([g for g in groups if g["params"]], lr=image.lr,
                                          weight_decay=image.weight_decay)
        self.weights = {"id": section.losses.id, "triplet": section.losses.triplet}
        self.tokens = tokens.to(ctx.device)
        self.net = ddp(model, ctx)
        self.train_set = data.dataset(model.config, train.augment, train.seed)
        self.sampler = IdentityBatchSampler(data.labels, train.ids_per_batch, train.images_per_id, train.seed,
                                            ctx.rank, ctx.world)
        self.loader = DataLoader(self.train_set, batch_sampler=self.sampler, num_workers=train.workers,
                                 pin_memory=ctx.device.type == "cuda")

    def lr(self, epoch: int, step: int) -> float:
        """Stage 2: WarmupMultiStepLR per epoch; stage 1: constant."""
        return peer_image_factor(self.section.image, epoch + 1) if self.end_to_end else 1.0

    def begin_epoch(self, epoch: int) -> tuple[DataLoader, int]:
        self.sampler.set_epoch(epoch)
        self.train_set.epoch = epoch
        self.net.train()
        if not self.end_to_end:
            self.model.image.backbone().eval()  # frozen: no dropout or statistics of its own either
        return self.loader, len(self.loader)

    def step(self, batch: list[torch.Tensor]) -> tuple[dict[str, torch.Tensor], tuple[Any, torch.Tensor]]:
        images, _, labels, index = batch
        images, labels = images.to(self.ctx.device, non_blocking=True), labels.to(self.ctx.device, non_blocking=True)
        with autocast(self.ctx.device):
            out = self.net(images, self.tokens[index.to(self.ctx.device)])
        losses = {"id": id_loss(out.logits, labels, self.section.image.label_smoothing),
                  "triplet": batch_hard_triplet(out.features, labels, self.section.losses.triplet_margin)}
        return losses, (out, labels)


def training_tokens(semantic_dir: str | Path, data: TrainingData) -> dict:
    """Stage `semantic`'s table for exactly these training images (row i: manifest row i)."""
    return read_tokens(Path(semantic_dir), data.paths)


def run_lvlm_stage1(section: LvlmReid, model_params: Model, train: Train, data: TrainingData, sources: list[str],
                    semantic_dir: str | Path, out_dir: str | Path, state_dir: str | Path, live_dir: str | Path,
                    ctx: Dist) -> list[dict[str, float]]:
    """Build the model on the prior's ViT and warm the SGI and heads up; write out_dir/model.pt."""
    table = training_tokens(semantic_dir, data)
    with building("model"):
        config = MuvaConfig.of_lvlm(model_params, sources, data.num_classes, table["tokens"].shape[1],
                                    section.sgi_blocks, section.sgi_heads)
    data.check_fits(config.num_patches)
    torch.manual_seed(train.seed)
    model = build_model(config, model_params.pretrained).to(ctx.device)
    expected = fingerprint({"phase": "sgi", "section": section.model_dump(), "model": config.to_dict(),
                            "pretrained": model_params.pretrained, "train": train.model_dump(), "world": ctx.world,
                            "vlm": table["vlm"]}, data.labels)
    records = fit(LvlmTask(model, section, data, table["tokens"], train, ctx, end_to_end=False), expected,
                  state_dir, live_dir, ctx)
    if ctx.is_main:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        save_checkpoint(model, Path(out_dir) / MODEL_FILE, extra={"stage": 1, "method": "lvlm_reid", "vlm": table["vlm"]})
    barrier(ctx)
    return records


def run_lvlm_stage2(section: LvlmReid, train: Train, data: TrainingData, semantic_dir: str | Path,
                    stage1_dir: str | Path, out_checkpoint: str | Path, state_dir: str | Path, live_dir: str | Path,
                    ctx: Dist) -> list[dict[str, float]]:
    """Train end to end from stage 1's model; write the image side (ViT, SGI, BNNeck) to `out_checkpoint`."""
    table = training_tokens(semantic_dir, data)
    path = Path(stage1_dir) / MODEL_FILE
    model, extra = load_checkpoint(path, ctx.device, stage="stage1")
    if model.config.method != "lvlm_reid" or model.config.num_classes != data.num_classes:
        raise ArtifactError(path, "stage1", f"holds a {model.config.method} model of {model.config.num_classes} "
                                            f"identities, not lvlm_reid of the training data's {data.num_classes}")
    if extra.get("vlm") != table["vlm"]:
        raise ArtifactError(path, "stage1", "was warmed up on another VLM's semantic tokens")
    torch.manual_seed(train.seed)
    expected = fingerprint({"phase": "image", "section": section.model_dump(), "train": train.model_dump(),
                            "world": ctx.world, "vlm": table["vlm"]}, data.labels, files=(str(path),))
    records = fit(LvlmTask(model, section, data, table["tokens"], train, ctx, end_to_end=True), expected,
                  state_dir, live_dir, ctx)
    if ctx.is_main:
        save_checkpoint(model.image, out_checkpoint, extra={"stage": 2, "method": "lvlm_reid", "vlm": table["vlm"],
                                                            "instruction": section.instruction,
                                                            **(records[-1] if records else {})})
    barrier(ctx)
    return records


def train_lvlm_stage1(section: LvlmReid, model: Model, train: Train, protocol_dir: str | Path,
                      semantic_dir: str | Path, out_dir: str | Path, state_dir: str | Path, live_dir: str | Path) -> None:
    """Stage `stage1` of LVLM-ReID from its files: protocol_dir/{train.parquet,protocol.json} + the tokens → out_dir."""
    protocol_dir = Path(protocol_dir)
    data, ctx = peer_data(train, protocol_dir / "train.parquet")
    sources = read_protocol(protocol_dir / "protocol.json")["sources"]
    run_lvlm_stage1(section, model, train, data, sources, semantic_dir, out_dir, state_dir, live_dir, ctx)
    shutdown(ctx)


def train_lvlm_stage2(section: LvlmReid, train: Train, train_path: str | Path, semantic_dir: str | Path,
                      stage1_dir: str | Path, out_checkpoint: str | Path, state_dir: str | Path,
                      live_dir: str | Path) -> None:
    """Stage `stage2` of LVLM-ReID from its files: training manifest, tokens, stage-1 folder → `out_checkpoint`."""
    data, ctx = peer_data(train, train_path)
    run_lvlm_stage2(section, train, data, semantic_dir, stage1_dir, out_checkpoint, state_dir, live_dir, ctx)
    shutdown(ctx)
