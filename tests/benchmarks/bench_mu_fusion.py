"""MUSE's fusion and k-reciprocal re-ranking at MSMT17 scale, with a stand-in scorer for the judge.

    python -m tests.benchmarks.bench_mu_fusion [--scale msmt|market|small] [--fraction 1] [--dim 512]
                                               [--topk 10] [--mode krnn|simple] [--device cpu|cuda]

bench_eval's synthetic features at MSMT17's sizes (11,659 queries × 82,161 gallery, N = 93,820: one
(Q+G)² float32 matrix is 35 GB, none is held). The judge is replaced by a scorer that knows the
truth and errs: μ = 0.1 for a true match, 0.9 otherwise, each flipped with probability `--noise`
(what the VLM costs, one forward per pair, is the μ stage's, measured in the README). Timed, with
the peak RSS counted from after the features are built (ru_maxrss):
  top-k       each query's `--topk` nearest gallery items (reid.muse.mu.top_candidates)
  override    MuOverride.of + .pairs: the fused d′ at the Q·k pairs
  build       KReciprocal(..., override) (MUSE's k1 10, k2 5, λ 0.3), or SimpleFused
  ranking     evaluate_distances over its blocks
and the plain, and fused, mAP. Measured here (2 CPU cores, D = 512, machine otherwise idle): see the
README's MUSE section.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from reid.evaluation.metrics import evaluate_distances, evaluate_features
from reid.evaluation.rerank import KReciprocal
from reid.muse.fusion import MuOverride, SimpleFused
from reid.muse.mu import top_candidates
from tests.benchmarks.bench_eval import Clock, make_data, peak_rss_gb, reset_peak_rss
from tests.benchmarks.bench_rerank import SCALES, synchronize
from tests.kit.params import section


def stand_in_mu(q_pids: np.ndarray, g_pids: np.ndarray, q_idx: torch.Tensor, g_idx: torch.Tensor,
                noise: float, seed: int = 0) -> torch.Tensor:
    """μ [P]: 0.1 for a true match and 0.9 otherwise, each flipped with probability `noise`."""
    same = q_pids[q_idx.numpy()] == g_pids[g_idx.numpy()]
    flip = np.random.default_rng(seed).random(len(same)) < noise
    return torch.from_numpy(np.where(same ^ flip, 0.1, 0.9).astype(np.float32))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=sorted(SCALES), default="msmt")
    ap.add_argument("--fraction", type=float, default=1.0, help="shrink the scale's queries, gallery and ids")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--topk", type=int, default=10)
    ap.add_argument("--noise", type=float, default=0.2, help="the stand-in judge's error rate")
    ap.add_argument("--mode", choices=["krnn", "simple"], default="krnn")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    scale = {k: round(v * args.fraction) if k != "num_cams" else v for k, v in SCALES[args.scale].items()}
    data = make_data(**scale, dim=args.dim)
    device = torch.device(args.device)
    q, g, ids = data["query_feats"].to(device), data["gallery_feats"].to(device), data["ids"]
    print(f"scale {args.scale} x {args.fraction:g}: {len(q):,} queries x {len(g):,} gallery, D={args.dim}, "
          f"top-{args.topk}, mode {args.mode}, stand-in judge error {args.noise:g}; {args.device}, "
          f"{torch.get_num_threads()} CPU threads", flush=True)
    plain = evaluate_features(q, g, *ids)  # also warms up the thread pools and BLAS
    try:
        inputs_gb = reset_peak_rss()
    except OSError:  # no /proc/self/clear_refs (gVisor): the peak then counts from the process start
        inputs_gb = float("nan")
    clocks = {}
    with Clock() as clocks["top-k"]:
        q_idx, g_idx = top_candidates(q, g, args.topk)
    mu = stand_in_mu(ids[0], ids[1], q_idx, g_idx, args.noise)
    with Clock() as clocks["override"]:
        pairs = MuOverride.of(q_idx, g_idx, mu, 0.2, len(q), len(g)).pairs(q, g)
    with Clock() as clocks["build"]:
        params = section("muse.rerank")
        distances = (SimpleFused(q, g, pairs) if args.mode == "simple"
                     else KReciprocal(q, g, params, override=pairs))
        synchronize(device)
    with Clock() as clocks["ranking"]:
        fused = evaluate_distances(distances, len(q), len(g), *ids, device=device)
        synchronize(device)
    peak = peak_rss_gb()
    for name, c in clocks.items():
        print(f"  {name:9s} {c.wall:8.1f} s wall  {c.cpu:8.1f} s CPU")
    print(f"  pairs {len(mu):,} ({(mu < 0.5).float().mean():.1%} judged the same person)")
    print(f"  peak RSS {peak:.2f} GB (features and inputs {inputs_gb:.2f} GB)")
    if device.type == "cuda":
        print(f"  peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GB")
    print(f"  mAP plain {plain.mAP:.2%} -> {args.mode} + mu {fused.mAP:.2%}; Rank-1 {plain.cmc[0]:.2%} -> {fused.cmc[0]:.2%}")


if __name__ == "__main__":
    main()
