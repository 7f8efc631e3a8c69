"""Costs of the three methods side by side (paper Table 13): ms per training batch of each stage, ms per
inference batch, peak GPU memory, parameters.

    python tests/benchmarks/bench_methods.py [--backbone ViT-B-16|demo] [--batch 64] [--iters 10] [--warmup 3]
                                            [--device auto|cpu|cuda] [--methods muva clip_reid clip_fgdi] [--json F]

Each method is timed with its paper configuration (configs/paper.yaml, configs/paper_clip_reid.yaml,
configs/paper_clip_fgdi.yaml: input size, input norm, losses), random init (weights do not change
the cost), 751 identities, random images and memories; the step bodies are the library's:
MUVA's from tests/benchmarks/bench_training.py, the peers' `reid.training.peers.PeerPromptTask.step` and
`image_losses` (all losses on, APN included for CLIP-FGDI) with the Adam step. "prompts" is the
peers' stage 1 (SupCon over a batch of `batch` image features, the text encoder over `batch`
prompts), "image" their image stage (CLIP-FGDI's prior costs the same minus i2tce and APN).
Inference: `batch` images through the image side. CUDA runs under bf16 autocast, as training
does, and reports peak memory per phase; the CPU has no peak-memory counter here ("-").
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "benchmarks"))

from bench_training import bench_stage1, bench_stage2, time_iterations  # noqa: E402

from reid.config.load import load_config  # noqa: E402
from reid.engine.loop import set_lr  # noqa: E402
from reid.model.configs import MuvaConfig  # noqa: E402
from reid.model.factory import build_model  # noqa: E402
from reid.model.parameters import count_parameters  # noqa: E402
from reid.training.config import recipe  # noqa: E402
from reid.engine.distributed import Dist  # noqa: E402
from reid.training.peers import PeerPromptTask, TextTargets, image_losses, image_optimizer  # noqa: E402
from reid.utils.device import autocast, autocast_dtype, resolve_device  # noqa: E402

NUM_CLASSES = 751
CONFIGS = {"muva": "configs/paper.yaml", "clip_reid": "configs/paper_clip_reid.yaml",
           "clip_fgdi": "configs/paper_clip_fgdi.yaml"}
PAPER = {  # Table 13 (RTX A6000, batch 64): S1 / S2 / inference ms, GB; parameters M (training / inference)
    "muva": "161.2 / 247.2 / 69.4 ms; 7.2 / 6.9 / 0.9 GB; 161.7 / 115.9 M",
    "clip_fgdi": "100.9 / 273.1 / 22.1 ms; 1.6 / 6.5 / 0.8 GB; 129.5 / 86.2 M",
    "clip_reid": "not in Table 13",
}


def peak(device: torch.device, run) -> tuple[list[float], float | None]:
    """(times, peak GB) of `run()`; peak only on CUDA."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times = run()
    return times, (torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None)


def peer_phases(method: str, args, device: torch.device) -> tuple[dict, dict[str, int]]:
    params = load_config(REPO / CONFIGS[method])
    section = getattr(params, method)
    fgdi = recipe(section)
    model_params = params.model.model_copy(update={"backbone": args.backbone, "pretrained": None})
    domains_n = 2 if method == "clip_fgdi" else 1
    config = MuvaConfig.of_peer(model_params, ["MA"], NUM_CLASSES, method, domains_n, section.input_norm,
                                section.test_feature)
    torch.manual_seed(0)
    model = build_model(config).to(device)
    ids = args.batch // params.train.images_per_id
    labels = torch.randperm(NUM_CLASSES)[:ids].repeat_interleave(params.train.images_per_id).to(device)
    domains = torch.zeros_like(labels) if domains_n == 1 else (labels % 2)
    embed = config.clip["embed_dim"]
    results = {}

    def prompt_run():
        """PeerPromptTask's own step (its optimiser groups, its losses) on one batch of random image features."""
        features = torch.randn(len(labels), embed, device=device)
        task = PeerPromptTask(model, fgdi, fgdi.prompts, features, labels, domains, params.train, Dist(device=device),
                              relevant=False)
        task.text_side.train()
        batch = torch.arange(len(labels))

        def step():
            set_lr(task.optimizer, 1.0)
            losses, _ = task.step(batch)
            loss = sum(task.weights[name] * value for name, value in losses.items())
            task.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            task.optimizer.step()
            return loss.detach()

        return time_iterations(step, args.iters, args.warmup, device)

    def image_run():
        optimizer = image_optimizer(model, fgdi)
        scaler = torch.amp.GradScaler(enabled=autocast_dtype(device) == torch.float16)
        index = torch.full((NUM_CLASSES, domains_n), 0, dtype=torch.long, device=device)
        text = TextTargets(torch.randn(NUM_CLASSES, embed, device=device), index, torch.randn(1, embed, device=device))
        images = torch.randn(len(labels), 3, *config.image_size, device=device)
        model.train()

        def step():
            set_lr(optimizer, 1.0)
            with autocast(device):
                out = model(images)
            losses = image_losses(out, labels, domains, text, fgdi, method == "clip_fgdi")
            loss = sum(losses.values())
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            return loss.detach()

        return time_iterations(step, args.iters, args.warmup, device)

    results["prompts"] = peak(device, prompt_run)
    results["image"] = peak(device, image_run)
    results["inference"] = peak(device, lambda: inference(model.image, config, args, device))
    return results, count_parameters(model)


def inference(encoder, config, args, device) -> list[float]:
    encoder.eval()
    images = torch.randn(args.batch, 3, *config.image_size, device=device)

    def step():
        with torch.inference_mode(), autocast(device):
            return encoder.features(images).retrieval.float().sum()

    return time_iterations(step, args.iters, args.warmup, device)


def muva_phases(args, device: torch.device):
    params = load_config(REPO / CONFIGS["muva"])
    model_params = params.model.model_copy(update={"backbone": args.backbone, "pretrained": None})
    config = MuvaConfig.of(model_params, ["MA"], NUM_CLASSES)
    results = {"prompts": peak(device, lambda: bench_stage1(config, params.train, args, device)),
               "image": peak(device, lambda: bench_stage2(config, params.train, args, device))}
    torch.manual_seed(0)
    model = build_model(config).to(device)
    results["inference"] = peak(device, lambda: inference(model.image, config, args, device))
    return results, count_parameters(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="ViT-B-16", choices=["ViT-B-16", "demo"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--methods", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    device = resolve_device(args.device)
    precision = autocast_dtype(device)
    print(f"{args.backbone} on {device} ({str(precision).replace('torch.', '') if precision else 'float32'}"
          f"{'' if device.type == 'cuda' else f', {torch.get_num_threads()} threads'}), batch {args.batch}, "
          f"{NUM_CLASSES} identities; median ms of {args.iters} iterations after {args.warmup}")
    header = (f"{'method':<10} {'stage-1 ms':>10} {'stage-2 ms':>10} {'infer ms':>9} {'peak GB s1/s2/inf':>18} "
              f"{'params M train/infer':>21}   paper (Table 13)")
    print(header)
    print("-" * len(header))
    report = {}
    for method in args.methods:
        results, counts = muva_phases(args, device) if method == "muva" else peer_phases(method, args, device)
        ms = {phase: 1000 * statistics.median(times) for phase, (times, _) in results.items()}
        gb = {phase: memory for phase, (_, memory) in results.items()}
        report[method] = {"ms": ms, "peak_gb": gb, "parameters": counts, "device": str(device),
                          "backbone": args.backbone, "batch": args.batch}
        memory = "/".join("-" if v is None else f"{v:.1f}" for v in gb.values())
        print(f"{method:<10} {ms['prompts']:>10.1f} {ms['image']:>10.1f} {ms['inference']:>9.1f} {memory:>18} "
              f"{counts['training'] / 1e6:>10.1f} / {counts['inference'] / 1e6:<8.1f}   {PAPER[method]}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
