"""Benchmark the MUVA model: time per batch and peak memory, with and without AM-MSA.

    python tests/benchmarks/bench_model.py [--device auto|cpu|cuda] [--batch N] [--repeats R]

Rows: ViT-B-16 and the demo config (random init; weights do not change the cost) in three
variants — AM-MSA with RMP-predicted masks (stage-2 / inference), AM-MSA gated by given
pseudo-label masks G (stage-1 memory building: no RMP), and global only ("w/o AM-MSA") —
and three modes: inference (eval, no grad, normalised feature), image forward+backward
(stage-2 step without the optimiser) and text forward+backward for 64 identities with only
the prompts trainable (stage-1 step).  Times are the best of R runs after a warm-up (robust
to other load on a shared machine; the median is shown beside it).  Each measurement runs
in its own process so that peak memory is its own: CUDA peak allocated memory, or on CPU
the process's peak RSS and its rise above the RSS after the model was built.  The last
lines compare AM-MSA with global only, as Table 13 of the paper does (A6000, batch 64:
inference 69.4 / 22.1 ms, stage-2 247.2 / 152.1 ms, stage-1 161.2 / 58.9 ms).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = {
    "AM-MSA": {},
    "AM-MSA, G given": {},
    "global only": {"parts": []},
}
MODES = ("inference", "image fwd+bwd", "text fwd+bwd")
PAPER_MS = {("inference", "AM-MSA"): 69.4, ("inference", "global only"): 22.1,
            ("image fwd+bwd", "AM-MSA"): 247.2, ("image fwd+bwd", "global only"): 152.1,
            ("text fwd+bwd", "AM-MSA"): 161.2, ("text fwd+bwd", "global only"): 58.9}


def _rss_mb() -> float:
    """Current resident memory of this process (Linux /proc; 0 where unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * resource.getpagesize() / 2**20


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def run_case(backbone: str, variant: str, mode: str, device_name: str, batch: int, repeats: int) -> dict:
    """One measurement, in this process: best and median ms per batch, peak memory."""
    import torch

    from reid.model.muva import build_muva, freeze_patch_projection
    from tests.kit.params import muva
    from reid.utils.device import autocast, resolve_device

    device = resolve_device(device_name)
    torch.manual_seed(0)
    model = build_muva(muva(751, backbone=backbone, image_size=[256, 128], **VARIANTS[variant])).to(device)
    if mode == "text fwd+bwd":  # stage-1: only the prompts train
        model.requires_grad_(False)
        model.prompts.tokens.requires_grad_(True)
    else:  # stage-2: everything on the image side but the patch projection
        freeze_patch_projection(model)
    config = model.config
    images = torch.randn(batch, 3, *config.image_size, device=device)
    masks = None
    if variant == "AM-MSA, G given":
        masks = (torch.rand(batch, 3, config.num_patches, device=device) < 0.4).float()
    labels = torch.randint(0, config.num_classes, (batch,), device=device)
    text_labels = torch.arange(64, device=device)

    def step() -> None:
        if mode == "inference":
            model.eval()
            with torch.no_grad(), autocast(device):
                model.image(images, masks)
            return
        model.train()
        with autocast(device):
            if mode == "image fwd+bwd":
                out = model(images, masks)
                loss = torch.nn.functional.cross_entropy(out.logits.float(), labels)
                if out.mask_logits is not None:
                    loss = loss + out.mask_logits.sigmoid().mean()
            else:
                loss = model.encode_text(text_labels).float().square().mean()
        loss.backward()
        model.zero_grad(set_to_none=True)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    rss_model = _rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base_cuda = torch.cuda.memory_allocated(device)
    step()  # warm-up
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        step()
        sync()
        times.append((time.perf_counter() - start) * 1000)
    result = {"ms": min(times), "median_ms": statistics.median(times)}
    if device.type == "cuda":
        result["peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        result["rise_mb"] = result["peak_mb"] - base_cuda / 2**20
    else:
        result["peak_mb"] = _peak_rss_mb()
        result["rise_mb"] = result["peak_mb"] - rss_model
    result["threads"] = torch.get_num_threads()
    result["device"] = str(device)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch", type=int, default=None, help="default: 64 on a GPU, 8 on CPU")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backbones", nargs="+", default=["ViT-B-16", "demo"])
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: one measurement as JSON
    args = parser.parse_args()

    if args.case:
        print(json.dumps(run_case(**json.loads(args.case))))
        return

    import torch

    from reid.utils.device import resolve_device

    device = resolve_device(args.device)
    batch = args.batch or (64 if device.type == "cuda" else 8)
    repo_root = Path(__file__).resolve().parents[2]
    print(f"device {device}, batch {batch} images of 256x128 (text: 64 identities), "
          f"best of {args.repeats} (median in brackets), {'autocast' if device.type == 'cuda' else 'float32'}")
    header = f"{'model':<9} {'variant':<16} {'mode':<14} {'ms/batch':>18} {'peak MB':>9} {'rise MB':>9}"
    print(header)
    print("-" * len(header))
    results: dict[tuple[str, str, str], dict] = {}
    for backbone in args.backbones:
        for variant in VARIANTS:
            for mode in MODES:
                if mode == "text fwd+bwd" and variant == "AM-MSA, G given":
                    continue  # same text side as AM-MSA
                case = {"backbone": backbone, "variant": variant, "mode": mode, "device_name": str(device),
                        "batch": batch, "repeats": args.repeats}
                proc = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], cwd=repo_root,
                                      capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    raise SystemExit(f"case {case} failed:\n{proc.stderr}")
                result = json.loads(proc.stdout.strip().splitlines()[-1])
                results[backbone, variant, mode] = result
                timing = f"{result['ms']:.1f} [{result['median_ms']:.1f}]"
                print(f"{backbone:<9} {variant:<16} {mode:<14} {timing:>18} "
                      f"{result['peak_mb']:>9.0f} {result['rise_mb']:>9.0f}", flush=True)
    print(f"\nCPU threads: {torch.get_num_threads()}.  'rise' = peak minus memory after building the model.")
    print("AM-MSA / global-only time ratio (paper, A6000, batch 64, in brackets):")
    for backbone in args.backbones:
        parts = []
        for mode in MODES:
            ours = results[backbone, "AM-MSA", mode]["ms"] / results[backbone, "global only", mode]["ms"]
            paper = PAPER_MS[mode, "AM-MSA"] / PAPER_MS[mode, "global only"]
            parts.append(f"{mode} {ours:.2f} [{paper:.2f}]")
        print(f"  {backbone}: " + ", ".join(parts))


if __name__ == "__main__":
    main()
