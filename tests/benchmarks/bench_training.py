"""Benchmark one training iteration of each stage: seconds per batch, against the paper.

    python tests/benchmarks/bench_training.py [--backbone ViT-B-16|demo] [--batch 64] [--iters 10]
                                             [--warmup 3] [--device auto|cpu|cuda]

Each iteration is the loop body of the library's training code, built from its functions:

* stage-1: encode the prompts of the batch's P = batch / K identities (K = 4 images per
  identity) through the CLIP text transformer, cross-modal prototypical loss against the
  visual memory M1, backward to the prompt tokens (nothing else trains), Adam step;
* stage-2: forward of `batch` images of 256x128 with AM-MSA gated by the RMP's own
  predictions, the four losses (id, imp, i2tce, mask against G), backward, Adam step (RMP at
  lr x rmp_lr_factor, patch projection frozen), hardest-sample update of the memory M2.

Random init from the open_clip config (no download: weights do not change the cost), 751
identities (Market-1501), random images, masks and memories.  CUDA runs under autocast
(bf16 where supported, as training does), CPU in float32.  Times are per iteration after
`--warmup` untimed ones: mean, best and median.  Paper (Table 13, RTX A6000, batch 64):
stage-1 161.2 ms, stage-2 247.2 ms per batch.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from reid.config.load import load_config
from reid.engine.distributed import Dist
from reid.model.configs import MuvaConfig
from reid.model.muva import build_muva
from reid.training.config import Stage1, Stage2, Train
from reid.training.losses import prototype_loss
from reid.training.memory import momentum_update
from reid.engine.loop import set_lr
from reid.training.schedule import stage1_lr, stage2_factor
from reid.training.stage2 import parameter_groups, prepare_model, step_losses
from reid.utils.device import autocast, autocast_dtype, resolve_device

PAPER_MS = {"stage-1": 161.2, "stage-2": 247.2}  # Table 13, RTX A6000, batch 64
NUM_CLASSES = 751
PAPER = load_config(Path(__file__).resolve().parents[2] / "configs/paper.yaml")  # the recipe timed


def random_memory(num_classes: int, dim: int, device: torch.device) -> torch.Tensor:
    """An L2-normalised [C, F] memory, as `class_means` returns."""
    return torch.nn.functional.normalize(torch.randn(num_classes, dim, device=device), dim=1)


def stage1_step(model, optimizer, stage: Stage1, memory: torch.Tensor, labels: torch.Tensor, device):
    """The body of stage-1's step (`PromptTask` in `reid.engine.loop.fit`), for one batch of identities."""
    set_lr(optimizer, stage1_lr(stage, stage.warmup_epochs) / stage.lr)
    with autocast(device):
        text = model.encode_text(labels)
    loss = prototype_loss(text, memory, labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def stage2_step(net, model, optimizer, scaler, stage: Stage2, batch: dict, memory, text_memory, device):
    """The body of stage-2's loop (`run_stage2`), for one batch of images."""
    set_lr(optimizer, stage2_factor(stage, 0, stage.warmup_iters))
    with autocast(device):
        out = net(batch["images"])  # AM-MSA gated by the RMP's predictions
    losses = step_losses(out, batch["masks"], batch["labels"], memory, text_memory, stage)
    loss = sum(getattr(stage.loss_weights, name) * value for name, value in losses.items())
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    momentum_update(memory, out.features_bn, batch["labels"], stage.memory_momentum)
    return loss.detach()


def time_iterations(step, iters: int, warmup: int, device: torch.device) -> list[float]:
    """Seconds of each of `iters` timed calls of `step`, after `warmup` untimed ones."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        loss = step()
        loss.item()  # waits for the step, as the progress bar's postfix does in training
        sync()
        times.append(time.perf_counter() - start)
    return times


def bench_stage1(config: MuvaConfig, train: Train, args, device: torch.device) -> list[float]:
    stage = PAPER.stage1
    torch.manual_seed(0)
    model = build_muva(config).to(device)
    model.requires_grad_(False)
    model.prompts.tokens.requires_grad_(True)
    optimizer = torch.optim.Adam([{"params": [model.prompts.tokens], "base_lr": stage.lr}], lr=stage.lr,
                                 weight_decay=stage.weight_decay)
    memory = random_memory(config.num_classes, config.feature_dim, device)
    ids = args.batch // train.images_per_id
    generator = torch.Generator().manual_seed(1)

    def step():
        labels = torch.randperm(config.num_classes, generator=generator)[:ids].sort().values.to(device)
        return stage1_step(model, optimizer, stage, memory, labels, device)

    return time_iterations(step, args.iters, args.warmup, device)


def bench_stage2(config: MuvaConfig, train: Train, args, device: torch.device) -> list[float]:
    stage = PAPER.stage2
    torch.manual_seed(0)
    model = build_muva(config).to(device)
    net = prepare_model(model, train, Dist(device=device))
    net.train()
    optimizer = torch.optim.Adam(parameter_groups(model, stage), lr=stage.lr, weight_decay=stage.weight_decay)
    scaler = torch.amp.GradScaler(enabled=autocast_dtype(device) == torch.float16)
    memory = random_memory(config.num_classes, config.feature_dim, device)
    text_memory = torch.randn(config.num_classes, config.feature_dim, device=device)
    ids = args.batch // train.images_per_id
    labels = torch.randperm(config.num_classes)[:ids].repeat_interleave(train.images_per_id)
    batch = {
        "images": torch.randn(len(labels), 3, *config.image_size, device=device),
        "masks": (torch.rand(len(labels), len(config.parts), config.num_patches, device=device) < 0.4).float(),
        "labels": labels.to(device),
    }
    return time_iterations(
        lambda: stage2_step(net, model, optimizer, scaler, stage, batch, memory, text_memory, device),
        args.iters, args.warmup, device,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="ViT-B-16", choices=["ViT-B-16", "demo"])
    parser.add_argument("--batch", type=int, default=64, help="images per stage-2 batch (stage-1: batch / 4 identities)")
    parser.add_argument("--iters", type=int, default=10, help="timed iterations per stage")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations before")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    device = resolve_device(args.device)
    train = PAPER.train  # K = 4 images per identity
    if args.batch % train.images_per_id:
        raise SystemExit(f"--batch must be a multiple of {train.images_per_id} (images per identity)")
    model = PAPER.model.model_copy(update={"backbone": args.backbone, "pretrained": None})
    config = MuvaConfig.of(model, ["MA"], NUM_CLASSES)
    precision = autocast_dtype(device)
    print(f"{args.backbone} on {device} ({str(precision).replace('torch.', '') if precision else 'float32'}"
          f"{'' if device.type == 'cuda' else f', {torch.get_num_threads()} threads'}), "
          f"batch {args.batch} images of {config.image_size[0]}x{config.image_size[1]} = "
          f"{args.batch // train.images_per_id} identities x {train.images_per_id}, {NUM_CLASSES} classes; "
          f"{args.iters} timed iterations after {args.warmup}")
    header = f"{'stage':<8} {'s/iter mean':>12} {'best':>8} {'median':>8}   paper (A6000, batch 64)"
    print(header)
    print("-" * len(header))
    for name, bench in (("stage-1", bench_stage1), ("stage-2", bench_stage2)):
        times = bench(config, train, args, device)
        print(f"{name:<8} {statistics.mean(times):>12.3f} {min(times):>8.3f} {statistics.median(times):>8.3f}"
              f"   {PAPER_MS[name] / 1000:.3f} s", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
