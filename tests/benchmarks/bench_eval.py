"""Evaluation at MSMT17 scale: the chunked evaluator against the full-argsort reference.

    python tests/benchmarks/bench_eval.py [--scale msmt|small] [--dim D] [--chunk-size 128]

Both evaluators see the same synthetic features (identity centre + camera bias + noise,
L2-normalised) at MSMT17's sizes (11,659 queries, 82,161 gallery images, 3,060 ids,
15 cameras) or, with --scale small, Market-1501's; each runs in its own subprocess, so peak
RSS (ru_maxrss) belongs to one evaluator. Wall and CPU seconds are both printed: on a shared
machine the CPU time is the steadier figure.
Targets (evaluation issue): ranking-and-metrics >= 3x faster than the reference, whole
evaluation >= 5x less peak memory, identical mAP, CMC and per-query results.
The reference holds the distance matrix plus its int64 argsort: ~12 GB at full scale.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from reid.evaluation.metrics import (
    _distances,
    evaluate_features,
    evaluate_reference,
    pairwise_distances,
)

SCALES = {
    "msmt": {"num_query": 11_659, "num_gallery": 82_161, "num_ids": 3_060, "num_cams": 15, "dim": 2048},
    "small": {"num_query": 3_368, "num_gallery": 15_913, "num_ids": 751, "num_cams": 6, "dim": 2048},
}
CAM_BIAS = 0.6  # norm of a camera's shift: same-camera negatives look closer, as in real data
NOISE = 3.3  # norm of per-image noise against unit identity centres: mAP ~28%, like cross-domain MSMT17
GEN_BLOCK = 4096  # rows generated at a time, so building features never doubles their memory


def make_ids(
    num: int, num_ids: int, id_cams: list[np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """pids (1..num_ids, each at least once, skewed counts) and cameras from each id's camera subset: [num] x2."""
    weights = rng.lognormal(0.0, 0.7, num_ids)
    extra = rng.choice(num_ids, num - num_ids, p=weights / weights.sum())
    pids = rng.permutation(np.concatenate([np.arange(num_ids), extra])) + 1
    cams = np.array([rng.choice(id_cams[p - 1]) for p in pids])
    return pids, cams


def make_features(
    pids: np.ndarray, cams: np.ndarray, centres: torch.Tensor, cam_bias: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """[N, D] unit rows: centre[pid] + camera bias + noise, filled block by block in place."""
    dim = centres.shape[1]
    out = torch.empty(len(pids), dim)
    for s in range(0, len(pids), GEN_BLOCK):
        p, c = torch.from_numpy(pids[s : s + GEN_BLOCK]), torch.from_numpy(cams[s : s + GEN_BLOCK])
        x = centres[p] + CAM_BIAS * cam_bias[c] + NOISE * torch.randn(len(p), dim, generator=gen) / dim**0.5
        out[s : s + GEN_BLOCK] = torch.nn.functional.normalize(x, dim=1)
    return out


def make_data(num_query: int, num_gallery: int, num_ids: int, num_cams: int, dim: int, seed: int = 0) -> dict:
    """The synthetic query/gallery split; deterministic, so both subprocesses build the same one."""
    rng = np.random.default_rng(seed)
    id_cams = [rng.choice(num_cams, rng.integers(2, min(6, num_cams) + 1), replace=False) for _ in range(num_ids)]
    q_pids, q_cams = make_ids(num_query, num_ids, id_cams, rng)
    g_pids, g_cams = make_ids(num_gallery, num_ids, id_cams, rng)
    gen = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(num_ids + 1, dim, generator=gen), dim=1)
    cam_bias = torch.nn.functional.normalize(torch.randn(num_cams, dim, generator=gen), dim=1)
    return {
        "query_feats": make_features(q_pids, q_cams, centres, cam_bias, gen),
        "gallery_feats": make_features(g_pids, g_cams, centres, cam_bias, gen),
        "ids": (q_pids, g_pids, q_cams, g_cams),
    }


def reset_peak_rss() -> float:
    """Restart the peak-RSS count here, so setup temporaries don't count; the current RSS in GB.

    Linux/glibc: freed heap goes back to the OS first (malloc_trim), then clear_refs resets the peak.
    """
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**30


def peak_rss_gb() -> float:
    """Peak RSS since the last reset_peak_rss, in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def worker(kind: str, out: Path, scale: dict, chunk_size: int) -> None:
    """Run one evaluator, write its timings, peak RSS and per-query results to `out` (.npz)."""
    data = make_data(**scale)
    q, g, ids = data.pop("query_feats"), data.pop("gallery_feats"), data.pop("ids")
    _distances(q[:chunk_size], g)  # warm-up (thread pool, BLAS) outside both timings
    inputs_gb = reset_peak_rss()
    if kind == "chunked":
        with Clock() as total:
            m = evaluate_features(q, g, *ids, chunk_size=chunk_size)
        peak = peak_rss_gb()
        with Clock() as dist:  # the same products alone, to split distance time from ranking time
            for s in range(0, len(q), chunk_size):
                _distances(q[s : s + chunk_size], g)
        rank_wall, rank_cpu = total.wall - dist.wall, total.cpu - dist.cpu
    else:
        with Clock() as dist:
            distmat = pairwise_distances(q, g, chunk_size=chunk_size)
        del q, g
        gc.collect()
        with Clock() as rank:
            m = evaluate_reference(distmat, *ids)
        rank_wall, rank_cpu = rank.wall, rank.cpu
        peak = peak_rss_gb()
    stats = {"dist_wall": dist.wall, "dist_cpu": dist.cpu, "rank_wall": rank_wall, "rank_cpu": rank_cpu,
             "peak_gb": peak, "inputs_gb": inputs_gb, "load": os.getloadavg()[0]}
    np.savez(out, mAP=m.mAP, cmc=m.cmc, ap=m.ap, first_hit=m.first_hit, num_valid=m.num_valid, stats=json.dumps(stats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=sorted(SCALES), default="msmt")
    ap.add_argument("--dim", type=int, default=None, help="feature dimension (default: the scale's)")
    ap.add_argument("--chunk-size", type=int, default=128)
    ap.add_argument("--worker", choices=["chunked", "reference"], help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    scale = dict(SCALES[args.scale], **({"dim": args.dim} if args.dim else {}))
    if args.worker:
        worker(args.worker, args.out, scale, args.chunk_size)
        return

    print(f"scale {args.scale}: {scale['num_query']:,} queries x {scale['num_gallery']:,} gallery, "
          f"D={scale['dim']}, {scale['num_ids']:,} ids, {scale['num_cams']} cameras, chunk {args.chunk_size}, "
          f"{torch.get_num_threads()} threads", flush=True)
    res = {}
    with tempfile.TemporaryDirectory(prefix="bench_eval_") as tmp:
        for kind in ("chunked", "reference"):
            out = Path(tmp) / f"{kind}.npz"
            cmd = [sys.executable, __file__, "--worker", kind, "--out", str(out), "--scale", args.scale,
                   "--chunk-size", str(args.chunk_size), *(["--dim", str(args.dim)] if args.dim else [])]
            subprocess.run(cmd, check=True)
            with np.load(out) as z:
                res[kind] = {k: z[k] for k in z.files}
    c, r = res["chunked"], res["reference"]
    cs, rs = json.loads(str(c["stats"])), json.loads(str(r["stats"]))
    print(f"mAP {float(c['mAP']):.2%}, Rank-1 {c['cmc'][0]:.2%}, Rank-5 {c['cmc'][4]:.2%}, "
          f"Rank-10 {c['cmc'][9]:.2%} over {int(c['num_valid']):,} valid queries")
    rows = [
        ("distances, wall (s)", cs["dist_wall"], rs["dist_wall"], ""),
        ("distances, CPU (s)", cs["dist_cpu"], rs["dist_cpu"], ""),
        ("ranking + metrics, wall (s)", cs["rank_wall"], rs["rank_wall"], "target >= 3x"),
        ("ranking + metrics, CPU (s)", cs["rank_cpu"], rs["rank_cpu"], ""),
        ("peak RSS, inputs included (GB)", cs["peak_gb"], rs["peak_gb"], "target >= 5x"),
        ("peak RSS above inputs (GB)", cs["peak_gb"] - cs["inputs_gb"], rs["peak_gb"] - rs["inputs_gb"], ""),
    ]
    print(f"{'':30}{'chunked':>10}{'reference':>11}{'ratio':>9}")
    for name, a, b, note in rows:
        print(f"{name:30}{a:10.2f}{b:11.2f}{b / a:8.1f}x  {note}")
    same = {
        "mAP": c["mAP"] == r["mAP"],
        "CMC": np.array_equal(c["cmc"], r["cmc"]),
        "per-query AP": np.array_equal(c["ap"], r["ap"], equal_nan=True),
        "first-hit ranks": np.array_equal(c["first_hit"], r["first_hit"]),
    }
    print(f"1-min load average at the end of each run: {cs['load']:.1f}, {rs['load']:.1f} ({os.cpu_count()} CPUs)")
    print("bit-identical: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in same.items()))
    if not all(same.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
