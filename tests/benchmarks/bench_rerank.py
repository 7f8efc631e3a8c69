"""k-reciprocal re-ranking: the neighbour-list implementation against the full-matrix one.

    python -m tests.benchmarks.bench_rerank [--scale market|msmt|small] [--fraction 1] [--dim 512]
                                            [--device cpu|cuda] [--only chunked|full]

Both see bench_eval's synthetic features (identity centre + camera bias + noise, L2-normalised)
at Market-1501's sizes (3,368 queries, 15,913 gallery, N = 19,281: the full-matrix version's
~25 bytes × N² is ~9 GB, what fits beside other work on a 24 GB machine) or MSMT17's (11,659 ×
82,161, N = 93,820: 35 GB per N × N float32 matrix, so the chunked version runs alone). Each
runs in its own subprocess, so its peak RSS (ru_maxrss, counted from after the features are
built) is its own; on CUDA the peak of allocated GPU memory is printed too.
  full     pairwise distances over all N items, `rerank_reference` (the public code's (Q+G)²
           formulation, tests/evaluation/rerank_reference.py), `evaluate_reference`
  chunked  `KReciprocal` (neighbour lists, sparse V), its blocks fed to `evaluate_distances`
Where both run, the re-ranked distances are compared (max |difference|) and so are the metrics.
Measured here (2 CPU cores, D = 512, machine otherwise idle): Market scale 4.5 s and 0.83 GB
peak RSS against 153 s and 8.9 GB, distances within 1.8e-7, CMC equal; MSMT17 scale 122 s
(+ 43 s ranking) and 1.6 GB (D = 768: 144 s + 47 s, 1.7 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from reid.evaluation.metrics import (
    evaluate_distances,
    evaluate_features,
    evaluate_reference,
    pairwise_distances,
)
from reid.evaluation.rerank import KReciprocal
from tests.benchmarks.bench_eval import Clock, make_data, peak_rss_gb, reset_peak_rss
from tests.evaluation.rerank_reference import rerank_reference
from tests.kit.params import section

SCALES = {
    "market": {"num_query": 3_368, "num_gallery": 15_913, "num_ids": 751, "num_cams": 6},
    "msmt": {"num_query": 11_659, "num_gallery": 82_161, "num_ids": 3_060, "num_cams": 15},
    "small": {"num_query": 1_000, "num_gallery": 5_000, "num_ids": 250, "num_cams": 6},
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def worker(kind: str, out: Path, scale: dict, device: torch.device) -> None:
    """Run one implementation; write its timings, peaks, metrics and (small enough) distances to `out` (.npz)."""
    data = make_data(**scale)
    q, g, ids = data["query_feats"].to(device), data["gallery_feats"].to(device), data["ids"]
    num_query, num_gallery = len(q), len(g)
    plain = evaluate_features(q, g, *ids)  # also warms up the thread pools and BLAS
    try:
        inputs_gb = reset_peak_rss()
    except OSError:  # no /proc/self/clear_refs (gVisor): the peak then counts from the process start
        inputs_gb = float("nan")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    if kind == "chunked":
        with Clock() as build:
            distances = KReciprocal(q, g, section("evaluation.rerank"))
            synchronize(device)
        with Clock() as rank:
            m = evaluate_distances(distances, num_query, num_gallery, *ids, device=q.device)
            synchronize(device)
        peak = peak_rss_gb()
        gpu_peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
        final = None
        if num_query * num_gallery <= 4e8:  # for the comparison, after the measurements
            final = torch.cat([distances(s, min(s + 128, num_query)).cpu() for s in range(0, num_query, 128)]).numpy()
    else:
        feats = torch.cat([q, g]).cpu()
        with Clock() as build:
            original = pairwise_distances(feats, feats)
            final, _ = rerank_reference(original, num_query)
            del original
        with Clock() as rank:
            m = evaluate_reference(final, *ids)
        peak, gpu_peak = peak_rss_gb(), 0.0
    stats = {"build_wall": build.wall, "build_cpu": build.cpu, "rank_wall": rank.wall, "rank_cpu": rank.cpu,
             "peak_gb": peak, "inputs_gb": inputs_gb, "gpu_peak_gb": gpu_peak, "load": os.getloadavg()[0],
             "plain_mAP": plain.mAP, "plain_mINP": plain.mINP}
    np.savez(out, mAP=m.mAP, mINP=m.mINP, cmc=m.cmc, stats=json.dumps(stats),
             **({"final": final} if final is not None else {}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=sorted(SCALES), default="market")
    ap.add_argument("--dim", type=int, default=512, help="feature dimension (512: the demo's; ~768 in the paper)")
    ap.add_argument("--device", default="cpu", help="where the chunked version runs (the full one: CPU)")
    ap.add_argument("--only", choices=["chunked", "full"], help="run one implementation (msmt: chunked only)")
    ap.add_argument("--fraction", type=float, default=1.0, help="shrink the scale's queries, gallery and ids")
    ap.add_argument("--worker", choices=["chunked", "full"], help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    scale = {k: round(v * args.fraction) if k != "num_cams" else v for k, v in SCALES[args.scale].items()}
    scale["dim"] = args.dim
    if args.worker:
        worker(args.worker, args.out, scale, torch.device(args.device if args.worker == "chunked" else "cpu"))
        return
    kinds = [args.only] if args.only else (["chunked"] if args.scale == "msmt" else ["chunked", "full"])
    n = scale["num_query"] + scale["num_gallery"]
    print(f"scale {args.scale} x {args.fraction:g}: {scale['num_query']:,} queries x {scale['num_gallery']:,} gallery (N = {n:,}), "
          f"D={args.dim}, k1 20, k2 6, lambda 0.3; chunked on {args.device}, {torch.get_num_threads()} CPU threads",
          flush=True)
    res = {}
    with tempfile.TemporaryDirectory(prefix="bench_rerank_") as tmp:
        for kind in kinds:
            out = Path(tmp) / f"{kind}.npz"
            cmd = [sys.executable, __file__, "--worker", kind, "--out", str(out), "--scale", args.scale,
                   "--dim", str(args.dim), "--device", args.device, "--fraction", str(args.fraction)]
            subprocess.run(cmd, check=True, env={**os.environ, "REID_NO_PROGRESS": "1"})
            with np.load(out) as z:
                res[kind] = {k: z[k] for k in z.files}
    stats = {k: json.loads(str(r["stats"])) for k, r in res.items()}
    first = stats[kinds[0]]
    print(f"plain ranking: mAP {first['plain_mAP']:.2%}, mINP {first['plain_mINP']:.2%}")
    for kind, r in res.items():
        print(f"re-ranked ({kind}): mAP {float(r['mAP']):.2%}, mINP {float(r['mINP']):.2%}, Rank-1 {r['cmc'][0]:.2%}")
    rows = [("re-ranking, wall (s)", "build_wall"), ("re-ranking, CPU (s)", "build_cpu"),
            ("ranking + metrics, wall (s)", "rank_wall"), ("peak RSS, inputs included (GB)", "peak_gb")]
    if args.device != "cpu" and "chunked" in stats:
        rows.append(("peak GPU memory allocated (GB)", "gpu_peak_gb"))
    print(f"{'':32}" + "".join(f"{k:>10}" for k in kinds))
    for name, key in rows:
        print(f"{name:32}" + "".join(f"{stats[k][key]:10.2f}" for k in kinds))
    print("1-min load average at the end of each run: " + ", ".join(f"{stats[k]['load']:.1f}" for k in kinds)
          + f" ({os.cpu_count()} CPUs)")
    if len(res) == 2:
        c, f = res["chunked"], res["full"]
        diff = float(np.abs(c["final"] - f["final"]).max())
        same_cmc = np.array_equal(c["cmc"], f["cmc"])
        print(f"max |distance difference| {diff:.2e}; mAP difference {abs(float(c['mAP'] - f['mAP'])):.2e}, "
              f"mINP difference {abs(float(c['mINP'] - f['mINP'])):.2e}, CMC {'equal' if same_cmc else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
