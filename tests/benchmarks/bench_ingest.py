"""Ingestion speed at MSMT17 scale: builds an MSMT17_V1-layout tree and prints images/s.

    python tests/benchmarks/bench_ingest.py [--images 126441] [--workers 2] [--keep DIR]

Target (issue 2): MSMT17's 126,441 images ingested in under 2 minutes on 2 cores.
The tree is built from a handful of real JPEG encodings (128x64 .. 256x96, like MSMT17's
crops), so the probe reads real headers and trailers.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from reid.data.ingest import ingest_dataset
from reid.utils.images import write_image


def build_tree(root: Path, n_images: int) -> None:
    """MSMT17_V1 layout: 25.8% train (list_train + list_val), 9.2% query, 65% gallery, 15 cameras."""
    rng = np.random.default_rng(0)
    samples = []
    for h, w in ((128, 64), (192, 80), (256, 96)):
        write_image(root / "sample.jpg", rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        samples.append((root / "sample.jpg").read_bytes())
    d = root / "MSMT17_V1"
    n_train, n_query = int(n_images * 0.258), int(n_images * 0.092)
    lists = {"list_train.txt": [], "list_val.txt": [], "list_query.txt": [], "list_gallery.txt": []}
    for i in range(n_images):
        split = "train" if i < n_train else "query" if i < n_train + n_query else "gallery"
        pid = (i % 3000) if split != "train" else (i % 1041)
        cam = 1 + i % 15
        rel = f"{pid:04d}/{pid:04d}_{i % 1000:03d}_{cam:02d}_0303morning_{i % 10000:04d}_{i // 10000}.jpg"
        folder = d / ("train" if split == "train" else "test")
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(samples[i % len(samples)])
        key = ("list_val.txt" if i % 10 == 0 else "list_train.txt") if split == "train" else f"list_{split}.txt"
        lists[key].append(f"{rel} {pid}")
    for name, lines in lists.items():
        (d / name).write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=126_441)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None, help="build the tree here and keep it")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        if not (root / "MSMT17_V1").exists():
            t0 = time.perf_counter()
            build_tree(root, args.images)
            print(f"built {args.images} files in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = ingest_dataset(root, "MS", workers=args.workers)
        dt = time.perf_counter() - t0
        n = res.manifest.height + res.quarantine.height
        print(f"ingested {n} images ({res.quarantine.height} quarantined) with {args.workers} workers "
              f"in {dt:.1f} s: {n / dt:,.0f} images/s (target: 126,441 in < 120 s = {126441 / 120:,.0f} images/s)")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
