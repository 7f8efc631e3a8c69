"""Mask store speed at MSMT17 scale: write and read 32,621 masks of 3 x 128 patches.

    python tests/benchmarks/bench_masks.py [--images 32621]

Target (issue 5): loading 32k masks takes well under a second.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from reid.masks.grid import PatchGrid
from reid.masks.store import read_masks, write_masks
from reid.masks.voting import vote


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=32_621)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    y0 = np.sort(rng.random((args.images, 3, 2)), axis=-1)
    boxes = np.concatenate([np.zeros((args.images, 3, 1)), y0[..., :1], np.ones((args.images, 3, 1)), y0[..., 1:]], -1)
    t0 = time.perf_counter()
    masks = vote(boxes, PatchGrid())
    t_vote = time.perf_counter() - t0
    ids = [f"MS/train/{i:04d}/{i:04d}_000_01_0303morning_0015_0.jpg" for i in range(args.images)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "masks.parquet"
        t0 = time.perf_counter()
        write_masks(path, ids, masks, {"rows": 16, "cols": 8})
        t_write = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, loaded, _ = read_masks(path)
        t_read = time.perf_counter() - t0
        size = path.stat().st_size
    assert loaded.shape == (args.images, 3, 128)
    print(f"{args.images} masks: vote {t_vote:.3f} s, write {t_write:.3f} s, read {t_read:.3f} s "
          f"(target < 1 s), file {size / 1e6:.1f} MB ({size / args.images:.0f} B/image)")


if __name__ == "__main__":
    main()
