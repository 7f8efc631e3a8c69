"""CLIP-ReID and CLIP-FGDI on the one training engine (PEERS.md §1-2): their phases as `fit` tasks.

stage1 (the text side, and for CLIP-FGDI the adaptation before it):
  1. prior (`prior_epochs` > 0, FGDI): the image encoder with ID + triplet, on the image optimiser;
  2. prompts: per-identity tokens by SupCon(i2t) + SupCon(t2i) over image features extracted once,
     plus (`omega` > 0) omega x domain CE through a gradient reversal (the prompts become domain-invariant);
  3. domain prompts (`beta` > 0, FGDI): one token per domain in the domain template, the identity tokens
     detached, plus omega x CE of a domain classifier on the detached text;
  then the invariant text features T [C, E] of every identity and, for APN, the domain-relevant ones of
  every (identity, domain) pair in the data.
stage2: the image encoder with ID + triplet + (1 - beta) i2tce(f · Tᵀ) + beta APN, continuing the prior's
optimiser (its Adam moments and its schedule's epoch count), as FGDI's code continues the same objects.
CLIP-ReID is this code with prior_epochs, beta and omega 0 (`reid.training.config.recipe`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from reid.config.checks import check_device, check_identities
from reid.data.protocol import read_protocol
from reid.engine.distributed import Dist, barrier, ddp, init_distributed, shutdown
from reid.engine.loop import ModelTask, fit
from reid.engine.state import fingerprint
from reid.errors import ArtifactError, building
from reid.model.checkpoint import load_checkpoint, save_checkpoint
from reid.model.clip_reid import PeerModel, PeerOutput
from reid.model.configs import MuvaConfig
from reid.model.domain import grad_reverse
from reid.model.factory import build_model
from reid.model.params import Model
from reid.training.config import ClipFgdi, ClipReid, Stage1, Train, recipe
from reid.training.data import TrainingData, load_training_data
from reid.training.features import extract_training_features
from reid.training.id_log import IdAccuracyLog
from reid.training.losses import id_loss
from reid.training.peer_losses import apn_loss, batch_hard_triplet, domain_loss, supcon
from reid.training.sampler import IdentityBatchSampler
from reid.training.schedule import peer_image_factor, stage1_lr
from reid.utils.device import autocast
from reid.utils.files import atomic_save, reason_of

MODEL_FILE = "model.pt"
TEXT_MEMORY_FILE = "text_memory.pt"  # T [C, E]: the invariant prompts' features
RELEVANT_FILE = "relevant_memory.pt"  # {"index": [C, D] long (-1 = absent), "features": [n, E]}
OPTIMIZER_FILE = "optimizer.pt"  # the image optimiser after the prior, for stage2 to continue


def domain_labels(data: TrainingData, unit: str) -> torch.Tensor:
    """Each image's domain: its source dataset (the code's) or its camera (ours)."""
    return data.domains if unit == "dataset" else data.cameras


def peer_config(model: Model, method: str, section: ClipReid, sources: list[str], data: TrainingData) -> MuvaConfig:
    """The architecture of `method` on `model`'s backbone and input size, for the training data."""
    fgdi = recipe(section)
    num_domains = int(domain_labels(data, fgdi.domain_unit).max()) + 1
    return MuvaConfig.of_peer(model, sources, data.num_classes, method, num_domains, section.input_norm,
                              section.test_feature)


def warn_inert(method: str, fgdi: ClipFgdi, num_domains: int) -> None:
    """The single-source finding (PEERS §2.2): with one domain the domain terms do nothing; say so, then run."""
    if method == "clip_fgdi" and num_domains == 1 and (fgdi.omega > 0 or fgdi.beta > 0):
        print(f"warning: clip_fgdi.domain_unit is {fgdi.domain_unit!r} with one domain: the domain classifiers have "
              f"one class and one domain token, so the domain terms are inert (set clip_fgdi.domain_unit=camera "
              f"for one domain per camera, our variant)", file=sys.stderr)


# ---------------------------------------------------------------- image phases (prior and final)


def image_parameter_groups(model: PeerModel, image: Any) -> list[dict]:
    """Adam groups of what the image phases train (image side, classifiers): biases at lr x bias_lr_factor."""
    model.requires_grad_(False)
    for module in (model.image, model.classifier, model.classifier_proj):
        module.requires_grad_(True)
    model.image.bnneck.bias.requires_grad_(False)
    model.image.bnneck_proj.bias.requires_grad_(False)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in named if not n.endswith("bias")], "base_lr": image.lr},
              {"params": [p for n, p in named if n.endswith("bias")], "base_lr": image.lr * image.bias_lr_factor}]
    return [g for g in groups if g["params"]]


def image_optimizer(model: PeerModel, fgdi: ClipFgdi) -> torch.optim.Optimizer:
    return torch.optim.Adam(image_parameter_groups(model, fgdi.image), lr=fgdi.image.lr,
                            weight_decay=fgdi.image.weight_decay)


class TextTargets:
    """What the final phase aligns images with: T [C, E] and the domain-relevant features of (identity, domain)."""

    def __init__(self, invariant: torch.Tensor, relevant_index: torch.Tensor | None, relevant: torch.Tensor | None):
        self.invariant, self.relevant_index, self.relevant = invariant, relevant_index, relevant

    def to(self, device: torch.device) -> TextTargets:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return TextTargets(move(self.invariant), move(self.relevant_index), move(self.relevant))


def image_losses(out: PeerOutput, labels: torch.Tensor, domains: torch.Tensor, text: TextTargets | None,
                 fgdi: ClipFgdi, apn: bool) -> dict[str, torch.Tensor]:
    """One batch's losses: ID on both classifiers, triplet on the three features, and with text targets
    i2tce against T and (`apn`) the push/pull against each image's invariant and domain-relevant prompts."""
    smoothing, margin = fgdi.image.label_smoothing, fgdi.losses.triplet_margin
    losses = {"id": sum(id_loss(logits, labels, smoothing) for logits in out.logits),
              "triplet": sum(batch_hard_triplet(f, labels, margin) for f in out.tokens)}
    if text is not None:
        proj = out.tokens.proj.float()
        losses["i2tce"] = id_loss(proj @ text.invariant.t(), labels, smoothing)
        if apn:
            rows = text.relevant_index[labels, domains]
            losses["apn"] = apn_loss(proj, text.invariant[labels], text.relevant[rows], fgdi.apn_direction)
    return losses


class PeerImageTask(ModelTask, IdAccuracyLog):
    """The prior (ID + triplet) or the final phase (+ i2tce, APN) as an engine task."""

    def __init__(self, model: PeerModel, fgdi: ClipFgdi, data: TrainingData, train: Train, ctx: Dist,
                 optimizer: torch.optim.Optimizer, epochs: int, offset: int, text: TextTargets | None,
                 domains: torch.Tensor, name: str, resume_optimizer: dict | None = None) -> None:
        self.model, self.fgdi, self.data, self.train, self.ctx = model, fgdi, data, train, ctx
        self.optimizer, self.epochs, self.offset, self.name = optimizer, epochs, offset, name
        self.text = None if text is None else text.to(ctx.device)
        self.domains = domains.to(ctx.device)
        self.resume_optimizer = resume_optimizer
        w = fgdi.losses
        self.weights = {"id": w.id, "triplet": w.triplet}
        if text is not None:
            self.weights["i2tce"] = w.i2tce * (1.0 - fgdi.beta)
            if fgdi.beta > 0:
                self.weights["apn"] = fgdi.beta
        self.net = ddp(model, ctx)
        self.train_set = data.dataset(model.config, train.augment, train.seed)
        self.sampler = IdentityBatchSampler(data.labels, train.ids_per_batch, train.images_per_id, train.seed,
                                            ctx.rank, ctx.world)
        self.loader = DataLoader(self.train_set, batch_sampler=self.sampler, num_workers=train.workers,
                                 pin_memory=ctx.device.type == "cuda")

    def start(self) -> None:
        if self.resume_optimizer is not None:  # FGDI: the prior's optimiser continues
            self.optimizer.load_state_dict(self.resume_optimizer)

    def lr(self, epoch: int, step: int) -> float:
        return peer_image_factor(self.fgdi.image, self.offset + epoch + 1)

    def begin_epoch(self, epoch: int) -> tuple[DataLoader, int]:
        self.sampler.set_epoch(epoch)
        self.train_set.epoch = epoch
        self.net.train()
        return self.loader, len(self.loader)

    def step(self, batch: list[torch.Tensor]) -> tuple[dict[str, torch.Tensor], tuple[Any, torch.Tensor]]:
        images, _, labels, index = batch
        images, labels = images.to(self.ctx.device, non_blocking=True), labels.to(self.ctx.device, non_blocking=True)
        with autocast(self.ctx.device):
            out = self.net(images)
        domains = self.domains[index.to(self.ctx.device)]
        return image_losses(out, labels, domains, self.text, self.fgdi, "apn" in self.weights), (out, labels)

    def id_logits(self, out: PeerOutput) -> torch.Tensor:
        return out.logits[1]  # the projection's BNNeck classifier


# ---------------------------------------------------------------- prompt phases


class TextSide(nn.Module):
    """Prompts + text encoder + the phase's domain classifier as one module, so DDP averages their gradients."""

    def __init__(self, model: PeerModel, relevant: bool, grl: float) -> None:
        super().__init__()
        self.model, self.relevant, self.grl = model, relevant, grl

    def forward(self, labels: torch.Tensor, domains: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        model = self.model
        if self.relevant:
            text = model.encode_text(labels, domains)
            head = model.domain_head(text.detach().float()) if model.domain_head is not None else None
        else:
            text = model.encode_text(labels)
            head = model.domain_grl(grad_reverse(text.float(), self.grl)) if model.domain_grl is not None else None
        return text, head


def prompt_losses(text_side: nn.Module, image: torch.Tensor, labels: torch.Tensor, domains: torch.Tensor,
                  domain: bool) -> dict[str, torch.Tensor]:
    """SupCon(i2t) + SupCon(t2i) of a batch of image features against its prompts, and (`domain`) the domain CE."""
    with autocast(image.device):
        text, head = text_side(labels, domains)
    text = text.float()
    losses = {"supcon": supcon(image, text, labels, labels) + supcon(text, image, labels, labels)}
    if domain:
        losses["domain"] = domain_loss(head, domains)
    return losses


class PeerPromptTask(ModelTask):
    """A prompt phase as an engine task: batches of the image features extracted once, in one order or
    re-shuffled per epoch."""

    def __init__(self, model: PeerModel, fgdi: ClipFgdi, schedule: Stage1, features: torch.Tensor,
                 labels: torch.Tensor, domains: torch.Tensor, train: Train, ctx: Dist, relevant: bool) -> None:
        self.model, self.fgdi, self.schedule, self.ctx, self.train = model, fgdi, schedule, ctx, train
        self.features, self.labels, self.domains = features, labels.to(ctx.device), domains.to(ctx.device)
        self.name = "domain_prompts" if relevant else "prompts"
        self.epochs = schedule.epochs
        model.requires_grad_(False)
        tokens = model.prompts.domain if relevant else model.prompts.identity
        tokens.requires_grad_(True)
        groups = [{"params": [tokens], "base_lr": schedule.lr}]
        head = model.domain_head if relevant else model.domain_grl
        self.weights = {"supcon": 1.0}
        if head is not None and fgdi.omega > 0:
            head.requires_grad_(True)
            groups.append({"params": list(head.parameters()), "base_lr": fgdi.domain_lr})
            self.weights["domain"] = fgdi.omega
        self.optimizer = torch.optim.Adam(groups, lr=schedule.lr, weight_decay=schedule.weight_decay)
        self.text_side = ddp(TextSide(model, relevant, fgdi.grl), ctx)

    def lr(self, epoch: int, step: int) -> float:
        return stage1_lr(self.schedule, epoch) / self.schedule.lr

    def begin_epoch(self, epoch: int) -> tuple[list[torch.Tensor], int]:
        """This rank's batches: one permutation (per epoch if re-shuffled); a last batch of one is dropped
        (the domain classifier's BatchNorm needs two)."""
        generator = torch.Generator().manual_seed(self.train.seed * 1_000_003 + (epoch if self.fgdi.prompt_reshuffle else 0))
        order = torch.randperm(len(self.labels), generator=generator)
        size = self.fgdi.prompt_batch_size
        batches = [b for b in order.split(size) if len(b) > 1]
        batches = batches[: len(batches) // self.ctx.world * self.ctx.world][self.ctx.rank :: self.ctx.world]
        self.text_side.train()
        return batches, len(batches)

    def step(self, batch: torch.Tensor) -> tuple[dict[str, torch.Tensor], None]:
        index = batch.to(self.ctx.device)
        labels, domains = self.labels[index], self.domains[index]
        return prompt_losses(self.text_side, self.features[index], labels, domains, "domain" in self.weights), None

    def after_step(self, batch: torch.Tensor, out: None, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack([*(losses[n].detach() for n in self.weights), torch.ones((), device=self.ctx.device)])

    def postfix(self, shown: dict[str, float]) -> dict[str, str]:
        return {n: f"{v:.3f}" for n, v in shown.items()}

    def end_epoch(self, epoch: int, sums: list[float]) -> dict[str, float]:
        *loss_sums, batches = sums
        record = {f"{self.name}/loss/{n}": s / max(batches, 1) for n, s in zip(self.weights, loss_sums)}
        record[f"{self.name}/lr"] = stage1_lr(self.schedule, epoch)
        return record


# ---------------------------------------------------------------- the two stages


@torch.no_grad()
def encode_targets(model: PeerModel, labels: torch.Tensor, domains: torch.Tensor, relevant: bool,
                   device: torch.device, batch: int = 64) -> TextTargets:
    """T of every identity and, with `relevant`, the domain-relevant features of each (identity, domain) seen."""
    model.eval()

    def encode(ids: torch.Tensor, doms: torch.Tensor | None) -> torch.Tensor:
        rows = []
        for start in range(0, len(ids), batch):
            part = ids[start : start + batch].to(device)
            with autocast(device):
                rows.append(model.encode_text(part, None if doms is None else doms[start : start + batch].to(device))
                            .float().cpu())
        return torch.cat(rows)

    invariant = encode(torch.arange(model.config.num_classes), None)
    if not relevant:
        return TextTargets(invariant, None, None)
    pairs = torch.unique(torch.stack([labels, domains], dim=1), dim=0)
    index = torch.full((model.config.num_classes, model.config.num_domains), -1, dtype=torch.long)
    index[pairs[:, 0], pairs[:, 1]] = torch.arange(len(pairs))
    return TextTargets(invariant, index, encode(pairs[:, 0], pairs[:, 1]))


def run_peer_stage1(method: str, section: ClipReid, model_params: Model, train: Train, data: TrainingData,
                    sources: list[str], out_dir: str | Path, state_dir: str | Path, live_dir: str | Path,
                    ctx: Dist) -> list[dict[str, float]]:
    """Prior, prompts and domain prompts; write out_dir/{model.pt, text_memory.pt, …}. Returns the records."""
    fgdi = recipe(section)
    with building("model"):
        config = peer_config(model_params, method, section, sources, data)
    data.check_fits(config.num_patches)
    warn_inert(method, fgdi, config.num_domains)
    torch.manual_seed(train.seed)
    model = build_model(config, model_params.pretrained).to(ctx.device)
    domains = domain_labels(data, fgdi.domain_unit)
    state_dir, records = Path(state_dir), []
    digest = lambda phase: fingerprint(  # noqa: E731
        {"phase": phase, "method": method, "section": section.model_dump(), "model": config.to_dict(),
         "pretrained": model_params.pretrained, "train": train.model_dump(), "world": ctx.world}, data.labels, domains)
    optimizer = image_optimizer(model, fgdi)
    if fgdi.prior_epochs:
        prior = PeerImageTask(model, fgdi, data, train, ctx, optimizer, fgdi.prior_epochs, 0, None, domains, "prior")
        records += fit(prior, digest("prior"), state_dir / "prior", live_dir, ctx)
    features = extract_training_features(model.image, data.dataset(config), train.memory_batch_size, train.workers,
                                         ctx, after_bnneck=False, desc=f"{method} image features")
    features = features[:, -config.clip["embed_dim"]:]  # the projection: cat(cls, proj)'s second block
    phases = [(fgdi.prompts, False)] + ([(fgdi.domain_prompts, True)] if fgdi.beta > 0 else [])
    for schedule, relevant in phases:
        task = PeerPromptTask(model, fgdi, schedule, features, data.labels, domains, train, ctx, relevant)
        records += fit(task, digest(task.name), state_dir / task.name, live_dir, ctx, before=records)
    if ctx.is_main:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        targets = encode_targets(model, data.labels, domains, fgdi.beta > 0, ctx.device)
        save_checkpoint(model, out_dir / MODEL_FILE, extra={"stage": 1, "method": method})
        atomic_save(targets.invariant, out_dir / TEXT_MEMORY_FILE)
        if targets.relevant is not None:
            atomic_save({"index": targets.relevant_index, "features": targets.relevant}, out_dir / RELEVANT_FILE)
        if fgdi.prior_epochs:
            atomic_save(optimizer.state_dict(), out_dir / OPTIMIZER_FILE)
    barrier(ctx)
    return records


def load_peer_stage1(stage1_dir: Path, method: str, fgdi: ClipFgdi, device: torch.device
                     ) -> tuple[PeerModel, TextTargets, dict | None]:
    """The model, text targets and (after a prior) optimiser state that stage-1 wrote; ArtifactErrors name stage1."""
    model, extra = load_checkpoint(stage1_dir / MODEL_FILE, device, stage="stage1")
    if model.config.method != method:
        raise ArtifactError(stage1_dir / MODEL_FILE, "stage1", f"holds a {model.config.method} model, not {method}")

    def read(name: str, needed: bool) -> Any:
        path = stage1_dir / name
        if not needed:
            return None
        if not path.is_file():
            raise ArtifactError(path, "stage1")
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ArtifactError(path, "stage1", f"is unreadable ({reason_of(exc)})") from exc

    relevant = read(RELEVANT_FILE, fgdi.beta > 0)
    targets = TextTargets(read(TEXT_MEMORY_FILE, True), None if relevant is None else relevant["index"],
                          None if relevant is None else relevant["features"])
    return model, targets, read(OPTIMIZER_FILE, fgdi.prior_epochs > 0)


def run_peer_stage2(method: str, section: ClipReid, train: Train, data: TrainingData, stage1_dir: str | Path,
                    out_checkpoint: str | Path, state_dir: str | Path, live_dir: str | Path,
                    ctx: Dist) -> list[dict[str, float]]:
    """The final image phase; write the image side to `out_checkpoint`. Returns the records."""
    fgdi = recipe(section)
    torch.manual_seed(train.seed)
    stage1_dir = Path(stage1_dir)
    model, targets, optimizer_state = load_peer_stage1(stage1_dir, method, fgdi, ctx.device)
    if model.config.num_classes != data.num_classes:
        raise ArtifactError(stage1_dir / MODEL_FILE, "stage1",
                            f"has {model.config.num_classes} identities, the training data {data.num_classes}")
    domains = domain_labels(data, fgdi.domain_unit)
    expected = fingerprint({"method": method, "section": section.model_dump(), "train": train.model_dump(),
                            "world": ctx.world}, data.labels, domains,
                           files=tuple(sorted(str(p) for p in stage1_dir.iterdir())))
    task = PeerImageTask(model, fgdi, data, train, ctx, image_optimizer(model, fgdi), fgdi.image.epochs,
                         fgdi.prior_epochs, targets, domains, "image", optimizer_state)
    records = fit(task, expected, state_dir, live_dir, ctx)
    if ctx.is_main:
        save_checkpoint(model.image, out_checkpoint, extra={"stage": 2, "method": method,
                                                            **(records[-1] if records else {})})
    barrier(ctx)
    return records


def peer_data(train: Train, train_path: str | Path) -> tuple[TrainingData, Dist]:
    """The training data without part masks (the peers and LVLM-ReID have no parts), checked, and the process group."""
    check_device("train.device", train.device)
    data = load_training_data(train_path, None)  # no part masks: they are not read
    check_identities(data.num_classes, train.ids_per_batch)
    return data, init_distributed(train.device)


def train_peer_stage1(method: str, section: ClipReid, model: Model, train: Train, protocol_dir: str | Path,
                      out_dir: str | Path, state_dir: str | Path, live_dir: str | Path) -> None:
    """Stage `stage1` of a peer method from its files: protocol_dir/{train.parquet,protocol.json} → out_dir."""
    protocol_dir = Path(protocol_dir)
    data, ctx = peer_data(train, protocol_dir / "train.parquet")
    sources = read_protocol(protocol_dir / "protocol.json")["sources"]
    run_peer_stage1(method, section, model, train, data, sources, out_dir, state_dir, live_dir, ctx)
    shutdown(ctx)


def train_peer_stage2(method: str, section: ClipReid, train: Train, train_path: str | Path, stage1_dir: str | Path,
                      out_checkpoint: str | Path, state_dir: str | Path, live_dir: str | Path) -> None:
    """Stage `stage2` of a peer method from its files: training manifest + stage-1 folder → `out_checkpoint`."""
    data, ctx = peer_data(train, train_path)
    run_peer_stage2(method, section, train, data, stage1_dir, out_checkpoint, state_dir, live_dir, ctx)
    shutdown(ctx)
