"""Grounding speed per expert on this machine: prints images/s (pose, oracle, stripes).

    python -m tests.benchmarks.bench_grounding [--images 64] [--batch-size 8]

Pose runs on real pedestrians (OpenCV's street video, `apt-get install opencv-doc`) when
available, else on flat images (MediaPipe then finds nobody: a lower bound of its cost).
CogVLM cannot run here (no weights, no GPU); its cost is counted in model work instead:
3 sequences per image (one per part), one `generate` call per batch of images.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import polars as pl
import torch

os.environ.setdefault("REID_NO_PROGRESS", "1")

from reid.grounding.experts import build_expert  # noqa: E402
from reid.grounding.experts.cogvlm import CogVLMExpert  # noqa: E402
from reid.grounding.run import run_grounding  # noqa: E402
from reid.utils.images import write_image  # noqa: E402
from tests.grounding.fake_cogvlm import FakeCogVLM, FakeTokenizer  # noqa: E402
from tests.grounding.helpers import VTEST, grounding, make_dataset, pedestrian_crops  # noqa: E402
from tests.kit.params import section  # noqa: E402


def build(root: Path, n: int) -> Path:
    """A manifest of `n` images; real pedestrian crops replace the flat ones when available."""
    frame = make_dataset(root, n)
    if VTEST.is_file():
        crops = pedestrian_crops(8)
        for i, path in enumerate(frame["path"]):
            write_image(path, crops[i % len(crops)])
    frame.write_parquet(root / "train.parquet")
    return root / "train.parquet"


def bench(name: str, manifest: Path, root: Path, batch_size: int, expert=None) -> float:
    out = root / name
    start = time.perf_counter()
    run_grounding(manifest, out / "store", out / "boxes.parquet", out / "sheet.png", out / "summary.json",
                  grounding(name, batch_size=batch_size), expert=expert)
    return pl.read_parquet(manifest).height / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = build(root, args.images)
        experts = ["stripes", "oracle"]
        try:
            import mediapipe  # noqa: F401
            experts.append("pose")
        except ImportError:
            print("pose: skipped (pip install the [pose] extra)")
        for name in experts:
            rate = bench(name, manifest, root, args.batch_size, build_expert(grounding(name)))
            print(f"{name:>8}: {rate:8.1f} images/s (whole stage: read, expert, store, merge, contact sheet)")
        model = FakeCogVLM()
        fake = CogVLMExpert(model, FakeTokenizer(), section("grounding.cogvlm", dtype="float32"), torch.device("cpu"))
        bench("cogvlm", manifest, root, args.batch_size, fake)
        print(f"  cogvlm: {model.sequences / args.images:.0f} model sequences per image (one per part), "
              f"{model.generate_calls} generate calls for {args.images} images at batch {args.batch_size}")


if __name__ == "__main__":
    main()
