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

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from reid.config.checks import check_device, check_identities
from reid.data.protocol import read_protocol
from reid.engine.distributed import Dist, barrier, ddp, init_distributed, shutdown
from reid.engine.logging import EpochLog, live_folder
from reid.engine.loop import fit
from reid.engine.state import fingerprint
from reid.errors import ArtifactError, ConfigError, building
from reid.model.checkpoint import save_checkpoint
from reid.utils.files import atomic_save, reason_of
from reid.model.configs import MuvaConfig
from reid.model.params import Model
from reid.model.muva import MuvaModel, build_muva
from reid.training.config import Stage1, Train
from reid.training.data import TrainingData, load_training_data
from reid.training.features import extract_training_features
from reid.training.losses import prototype_loss
from reid.training.lvlm import train_lvlm_stage1
from reid.training.peers import train_peer_stage1
from reid.training.memory import class_means
from reid.training.sampler import IdentityBatchSampler
from reid.training.schedule import stage1_lr
from reid.utils.device import autocast
from reid.wiring import PRETRAIN_CHECKPOINT, StageIO, StageParams

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
    model: Model, train: Train, stage: Stage1,
    protocol_dir: str | Path, masks_path: str | Path, out_dir: str | Path, state_dir: str | Path, live_dir: str | Path,
) -> None:
    """Stage `stage1` from its files: protocol_dir/{train.parquet,protocol.json} + masks → out_dir.

    `model.pretrained` names the CLIP weights. Joins the process group torchrun prepared, if any.
    A vision-only run learns nothing, yet still makes `state_dir` and an epoch log in `live_dir`
    (the outputs dvc.yaml declares).
    """
    check_device("train.device", train.device)
    protocol_dir = Path(protocol_dir)
    data = load_training_data(protocol_dir / "train.parquet", masks_path)
    check_identities(data.num_classes, train.ids_per_batch)
    with building("model"):
        config = MuvaConfig.of(model, read_protocol(protocol_dir / "protocol.json")["sources"],
                               data.num_classes, data.class_domains)
    ctx = init_distributed(train.device)
    run_stage1(data, config, model.pretrained, train, stage, out_dir, state_dir, live_dir, ctx)
    if train.vision_only and ctx.is_main:
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        EpochLog(Path(live_dir), [{"epoch": 0, "vision_only": 1.0}]).close()
    shutdown(ctx)


def run_stage1(
    data: TrainingData,
    config: MuvaConfig,
    pretrained: str | None,
    train: Train,
    stage: Stage1,
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

    The `pretrain` stage's own checkpoint (`reid.wiring.PRETRAIN_CHECKPOINT`) is an upstream
    artifact: missing or unreadable (read memory-mapped, so a truncated or garbage file costs
    only its zip directory), the error says to re-run that stage. Another missing file is the
    user's: a ConfigError (open_clip reads, and judges, the files it loads). open_clip tags
    ("openai") and None pass through.
    """
    if pretrained is None:
        return
    path = Path(pretrained)
    if path.resolve() == Path(PRETRAIN_CHECKPOINT).resolve():
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
    train: Train,
    stage: Stage1,
    state_dir: str | Path,
    live_dir: str | Path,
    ctx: Dist,
) -> dict[str, float]:
    """The stage-1 epochs (`reid.engine.loop.fit`), resuming from `state_dir` when its fingerprint matches."""
    expected = fingerprint(
        {"model": model.config.to_dict(), "pretrained": pretrained, "train": train.model_dump(),
         "stage": stage.model_dump(), "world": ctx.world},
        data.labels, data.masks,
    )
    history = fit(PromptTask(model, data, train, stage, ctx), expected, state_dir, live_dir, ctx)
    return history[-1] if history else {}


class PromptTask:
    """Stage-1 as an engine task: only the prompts train, against a visual memory made once.

    A batch's loss is over its distinct identities: each appears K times in a P x K batch, so
    the mean over images equals the mean over identities, at 1/K of the text encodings.
    """

    name = "stage-1"
    weights = {"prototype": 1.0}

    def __init__(self, model: MuvaModel, data: TrainingData, train: Train, stage: Stage1, ctx: Dist) -> None:
        model.requires_grad_(False)
        model.prompts.tokens.requires_grad_(True)
        self.model, self.data, self.train, self.stage, self.ctx = model, data, train, stage, ctx
        self.epochs = stage.epochs
        self.optimizer = torch.optim.Adam(
            [{"params": [model.prompts.tokens], "base_lr": stage.lr}], lr=stage.lr, weight_decay=stage.weight_decay
        )
        self.text_side = ddp(TextSide(model), ctx)
        self.sampler = IdentityBatchSampler(data.labels, train.ids_per_batch, train.images_per_id, train.seed,
                                            ctx.rank, ctx.world)
        self.labels = data.labels.to(ctx.device)
        self.memory = torch.empty(0)

    def start(self) -> None:
        features = extract_training_features(
            self.model.image, self.data.dataset(self.model.config), self.train.memory_batch_size, self.train.workers,
            self.ctx, after_bnneck=False, desc="stage-1 visual memory",
        )
        self.memory = class_means(features, self.labels, self.data.num_classes)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"prompts": self.model.prompts.tokens.detach().cpu(), "memory": self.memory.cpu()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            self.model.prompts.tokens.copy_(state["prompts"])
        self.memory = state["memory"].to(self.ctx.device)

    def lr(self, epoch: int, step: int) -> float:
        return stage1_lr(self.stage, epoch) / self.stage.lr

    def begin_epoch(self, epoch: int) -> tuple[IdentityBatchSampler, int]:
        self.sampler.set_epoch(epoch)
        return self.sampler, len(self.sampler)

    def step(self, batch: list[int]) -> tuple[dict[str, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        ids = torch.unique(self.labels[torch.as_tensor(batch, device=self.ctx.device)])
        with autocast(self.ctx.device):
            text = self.text_side(ids)
        return {"prototype": prototype_loss(text, self.memory, ids)}, (text, ids)

    def after_step(self, batch: list[int], out: tuple[torch.Tensor, torch.Tensor],
                   losses: dict[str, torch.Tensor]) -> torch.Tensor:
        text, ids = out
        with torch.no_grad():
            correct = (F.normalize(text.float(), dim=1) @ self.memory.t()).argmax(1).eq(ids).sum()
        return torch.stack([losses["prototype"].detach() * len(ids), correct.float(),
                            torch.tensor(float(len(ids)), device=self.ctx.device)])

    def postfix(self, shown: dict[str, float]) -> dict[str, str]:
        return {"loss": f"{shown['prototype']:.3f}"}

    def end_epoch(self, epoch: int, sums: list[float]) -> dict[str, float]:
        loss_sum, correct, count = sums
        return {"loss/prototype": loss_sum / count, "acc/text_to_memory": correct / count,
                "lr": stage1_lr(self.stage, epoch)}


def stage1(params: StageParams, io: StageIO) -> None:
    """Stage `stage1` of `method` (under torchrun, every rank runs it)."""
    out = io.outputs
    live = live_folder(out["metrics"], out["plots"])
    if params.method == "lvlm_reid":
        train_lvlm_stage1(params.lvlm_reid, params.model, params.train, io.inputs["protocol"], io.inputs["semantic"],
                          out["model"], out["state"], live)
        return
    if params.method != "muva":
        train_peer_stage1(params.method, getattr(params, params.method), params.model, params.train,
                          io.inputs["protocol"], out["model"], out["state"], live)
        return
    train_stage1(params.model, params.train, params.stage1, io.inputs["protocol"], io.inputs["masks"],
                 out_dir=out["model"], state_dir=out["state"], live_dir=live)
