"""Stage-2: train the image encoder with AM-MSA (paper §3.2-3.3, SPEC §5).

Trainable: image encoder (patch projection frozen), local tokens, RMP, BNNeck, classifier.
Each epoch starts by rebuilding the visual memory M2 from BNNeck features extracted with the
pseudo-label masks G; during the epoch the RMP predictions gate attention, and

    loss = id (label-smoothed CE) + imp (CE of cosine to M2 / tau)
         + i2tce (CE against the fixed text memory M_T; not in vision-only)
         + mask (BCE + soft Dice of the RMP logits of every layer against G's rows of the
                 model's parts; AM-MSA models with parts only)

after every step M2 moves towards each identity's hardest sample (gathered over all ranks,
so every rank applies the same update and the memories stay identical).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from reid.config.checks import check_device, check_identities
from reid.engine.distributed import (
    Dist,
    all_gather,
    barrier,
    broadcast_buffers,
    ddp,
    init_distributed,
    shutdown,
)
from reid.engine.logging import live_folder
from reid.engine.loop import fit
from reid.engine.state import fingerprint
from reid.errors import ArtifactError
from reid.model.checkpoint import load_checkpoint, save_checkpoint
from reid.utils.files import reason_of
from reid.model.muva import MuvaModel, freeze_patch_projection
from reid.training.config import LossWeights, Stage2, Train
from reid.training.data import TrainingData, load_training_data
from reid.training.features import extract_training_features
from reid.training.losses import i2t_loss, id_loss, imp_loss, mask_loss
from reid.training.memory import class_means, momentum_update
from reid.training.lvlm import train_lvlm_stage2
from reid.training.peers import train_peer_stage2
from reid.training.sampler import IdentityBatchSampler
from reid.training.schedule import stage2_factor
from reid.training.stage1 import MODEL_FILE, TEXT_MEMORY_FILE
from reid.utils.device import autocast
from reid.wiring import StageIO, StageParams

LOSSES: tuple[str, ...] = tuple(LossWeights.model_fields)


def load_stage1(stage1_dir: str | Path, vision_only: bool, device: torch.device) -> tuple[MuvaModel, torch.Tensor | None]:
    """The model stage-1 wrote and, unless vision-only, its text memory M_T.

    Missing or unreadable files, and a vision-only stage-1 where the text memory is needed,
    are `ArtifactError`s saying to re-run stage1.
    """
    stage1_dir = Path(stage1_dir)
    model, extra = load_checkpoint(stage1_dir / MODEL_FILE, device, stage="stage1")
    if vision_only:
        return model, None
    memory_path = stage1_dir / TEXT_MEMORY_FILE
    if extra.get("vision_only"):
        raise ArtifactError(stage1_dir, "stage1",
                            "comes from a vision-only stage-1 (no text memory) but train.vision_only is false")
    if not memory_path.is_file():
        raise ArtifactError(memory_path, "stage1")
    try:
        memory = torch.load(memory_path, map_location=device, weights_only=True)
        if not isinstance(memory, torch.Tensor) or memory.ndim != 2 or len(memory) != model.config.num_classes:
            raise ValueError(f"expected a [{model.config.num_classes}, F] tensor of the stage-1 model's identities")
    except Exception as exc:
        raise ArtifactError(memory_path, "stage1", f"is unreadable ({reason_of(exc)})") from exc
    return model, memory


def parameter_groups(model: MuvaModel, stage: Stage2) -> list[dict]:
    """Adam groups: RMP at lr x rmp_lr_factor, every other trainable parameter at lr."""
    rmp = {id(p) for p in model.image.encoder.rmp.parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) not in rmp], "base_lr": stage.lr},
        {"params": [p for p in trainable if id(p) in rmp], "base_lr": stage.lr * stage.rmp_lr_factor},
    ]
    return [g for g in groups if g["params"]]


def prepare_model(model: MuvaModel, train: Train, ctx: Dist) -> nn.Module:
    """Freeze what stage-2 keeps fixed; wrap for DDP (and SyncBatchNorm) under torchrun."""
    model.prompts.requires_grad_(False)
    model.text.requires_grad_(False)
    freeze_patch_projection(model)
    if not ctx.enabled:
        return model
    if train.sync_bn:
        if ctx.device.type != "cuda":
            raise ValueError("train.sync_bn needs CUDA devices (PyTorch's SyncBatchNorm does not train on CPU); "
                             "set train.sync_bn: false")
        model.image.bnneck = nn.SyncBatchNorm.convert_sync_batchnorm(model.image.bnneck)
    return ddp(model, ctx)


def step_losses(
    out, part_targets: torch.Tensor, labels: torch.Tensor, memory: torch.Tensor, text_memory: torch.Tensor | None,
    stage: Stage2,
) -> dict[str, torch.Tensor]:
    """The four stage-2 losses of one batch (i2tce absent when there is no text memory, mask when
    the RMP predicts nothing).  part_targets: G narrowed to the model's parts [B, P, Npatch]
    (`ImageEncoder.part_rows`)."""
    losses = {
        "id": id_loss(out.logits, labels, stage.label_smoothing),
        "imp": imp_loss(out.features_bn, memory, labels, stage.imp_temperature),
    }
    if text_memory is not None:
        losses["i2tce"] = i2t_loss(
            out.features, text_memory, labels, stage.label_smoothing, stage.i2t_similarity, stage.i2t_temperature
        )
    if out.mask_logits is not None:
        losses["mask"] = mask_loss(out.mask_logits, part_targets)
    return losses


def train_stage2(
    train: Train, stage: Stage2, train_path: str | Path, masks_path: str | Path, stage1_dir: str | Path,
    out_checkpoint: str | Path, state_dir: str | Path, live_dir: str | Path,
) -> None:
    """Stage `stage2` from its files: training manifest + masks + stage-1 model → `out_checkpoint`.

    Joins the process group torchrun prepared, if any.
    """
    check_device("train.device", train.device)
    data = load_training_data(train_path, masks_path)
    check_identities(data.num_classes, train.ids_per_batch)
    ctx = init_distributed(train.device)
    run_stage2(data, stage1_dir, train, stage, out_checkpoint, state_dir, live_dir, ctx)
    shutdown(ctx)


def run_stage2(
    data: TrainingData,
    stage1_dir: str | Path,
    train: Train,
    stage: Stage2,
    out_checkpoint: str | Path,
    state_dir: str | Path,
    live_dir: str | Path,
    ctx: Dist,
) -> dict[str, float]:
    """Train; write the image side (all inference needs) to `out_checkpoint`. Returns the last epoch's log."""
    torch.manual_seed(train.seed)
    model, text_memory = load_stage1(stage1_dir, train.vision_only, ctx.device)
    config = model.config
    data.check_fits(config.num_patches)
    if config.num_classes != data.num_classes:
        raise ArtifactError(Path(stage1_dir) / MODEL_FILE, "stage1",
                            f"has {config.num_classes} identities, the training data {data.num_classes}")
    stage1_files = tuple(sorted(str(p) for p in Path(stage1_dir).iterdir()))
    expected = fingerprint(
        {"train": train.model_dump(), "stage": stage.model_dump(), "world": ctx.world}, data.labels, data.masks,
        files=stage1_files,
    )
    history = fit(ImageTask(model, text_memory, data, train, stage, ctx), expected, state_dir, live_dir, ctx)
    if ctx.is_main:
        save_checkpoint(model.image, out_checkpoint, extra={"stage": 2, **(history[-1] if history else {})})
    barrier(ctx)
    return history[-1] if history else {}


class ImageTask:
    """Stage-2 as an engine task: M2 rebuilt at each epoch's start, moved after every step."""

    name = "stage-2"

    def __init__(self, model: MuvaModel, text_memory: torch.Tensor | None, data: TrainingData, train: Train,
                 stage: Stage2, ctx: Dist) -> None:
        self.model, self.text_memory, self.data, self.train, self.stage, self.ctx = (
            model, text_memory, data, train, stage, ctx)
        self.epochs = stage.epochs
        self.weights = stage.loss_weights.model_dump()
        self.net = prepare_model(model, train, ctx)
        self.optimizer = torch.optim.Adam(parameter_groups(model, stage), lr=stage.lr, weight_decay=stage.weight_decay)
        self.train_set = data.dataset(model.config, train.augment, train.seed)
        self.sampler = IdentityBatchSampler(data.labels, train.ids_per_batch, train.images_per_id, train.seed,
                                            ctx.rank, ctx.world)
        self.loader = DataLoader(self.train_set, batch_sampler=self.sampler, num_workers=train.workers,
                                 pin_memory=ctx.device.type == "cuda")
        self.memory = torch.empty(0)
        self.names: set[str] = set()  # the losses in use this epoch

    def start(self) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """The weights, and M2 at the epoch's end (for a look: the next epoch rebuilds it)."""
        return {"model": self.model.state_dict(), "memory": self.memory.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])

    def lr(self, epoch: int, step: int) -> float:
        return stage2_factor(self.stage, epoch, step)

    def begin_epoch(self, epoch: int) -> tuple[DataLoader, int]:
        features = extract_training_features(
            self.model.image, self.data.dataset(self.model.config), self.train.memory_batch_size, self.train.workers,
            self.ctx, after_bnneck=True, desc=f"stage-2 memory {epoch + 1}/{self.epochs}",
        )
        self.memory = class_means(features, self.data.labels.to(self.ctx.device), self.data.num_classes)
        self.sampler.set_epoch(epoch)
        self.train_set.epoch = epoch
        self.names = set()
        self.net.train()
        return self.loader, len(self.loader)

    def step(self, batch: list[torch.Tensor]) -> tuple[dict[str, torch.Tensor], tuple[Any, torch.Tensor]]:
        images, masks, labels, _ = batch
        images, masks, labels = (t.to(self.ctx.device, non_blocking=True) for t in (images, masks, labels))
        with autocast(self.ctx.device):
            out = self.net(images)
        losses = step_losses(out, self.model.image.encoder.part_rows(masks), labels, self.memory, self.text_memory,
                             self.stage)
        return losses, (out, labels)

    def after_step(self, batch: list[torch.Tensor], out: tuple[Any, torch.Tensor],
                   losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """The momentum update of M2; (loss sums, correct, images, batches)."""
        out, labels = out
        ctx = self.ctx
        momentum_update(self.memory, all_gather(out.features_bn, ctx), all_gather(labels, ctx),
                        self.stage.memory_momentum)
        self.names.update(losses)
        with torch.no_grad():
            values = [losses[n].detach() if n in losses else torch.zeros((), device=ctx.device) for n in LOSSES]
            correct = out.logits.argmax(1).eq(labels).sum().float()
            count = torch.tensor(float(len(labels)), device=ctx.device)
            return torch.stack([*values, correct, count, torch.ones((), device=ctx.device)])

    def postfix(self, shown: dict[str, float]) -> dict[str, str]:
        return {n: f"{v:.3f}" for n, v in shown.items()}

    def end_epoch(self, epoch: int, sums: list[float]) -> dict[str, float]:
        """Rank 0's BNNeck statistics everywhere (next memory, state, checkpoint); epoch means of the losses
        (summed over ranks, so divided by batches x ranks), accuracy, lr."""
        broadcast_buffers(self.model, self.ctx)
        *loss_sums, correct, count, batches = sums
        record: dict[str, float] = {f"loss/{n}": s / batches for n, s in zip(LOSSES, loss_sums) if n in self.names}
        record["acc/id"] = correct / count
        record["lr"] = self.optimizer.param_groups[0]["lr"]
        return record


def stage2(params: StageParams, io: StageIO) -> None:
    """Stage `stage2` of `method` (under torchrun, every rank runs it)."""
    out = io.outputs
    live = live_folder(out["metrics"], out["plots"])
    if params.method == "lvlm_reid":
        train_lvlm_stage2(params.lvlm_reid, params.train, io.inputs["train"], io.inputs["semantic"],
                          io.inputs["stage1"], out["model"], out["state"], live)
        return
    if params.method != "muva":
        train_peer_stage2(params.method, getattr(params, params.method), params.train, io.inputs["train"],
                          io.inputs["stage1"], out["model"], out["state"], live)
        return
    train_stage2(params.train, params.stage2, io.inputs["train"], io.inputs["masks"], io.inputs["stage1"],
                 out_checkpoint=out["model"], state_dir=out["state"], live_dir=live)
