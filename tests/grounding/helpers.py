"""Tiny datasets for the grounding tests: PNG images, a training manifest, gt_boxes.parquet."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import polars as pl

from reid.grounding.config import Grounding
from reid.grounding.parts import EQUAL_THIRDS
from reid.utils.images import write_image
from tests.kit.boxes import write_gt_boxes
from tests.kit.manifests import manifest_rows
from tests.kit.params import section

H, W = 64, 32
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")  # Debian package opencv-doc
GT = {"head": (10.0, 2.0, 22.0, 14.0), "upper": (4.0, 14.0, 28.0, 38.0), "legs": (6.0, 38.0, 26.0, 62.0)}


def grounding(expert: str = "stripes", **overrides) -> Grounding:
    """The tiny params' grounding section for `expert`: exact equal-thirds stripes and an error-free
    oracle unless `overrides` (keys of the section) say otherwise."""
    exact = {"stripes": {"windows": {p: list(w) for p, w in EQUAL_THIRDS.items()}},
             "oracle": {"whole_rate": 0.0, "split_rate": 0.0, "seed": 0}}
    return section("grounding", **{"expert": expert, **exact, **overrides})


def grey_value(index: int) -> int:
    """Image `index` is a flat grey of this value (fakes read the index back from pixels)."""
    return 20 + 10 * (index % 20)


def make_dataset(root: Path, n: int, key: str = "MA", folder: str = "Market-1501-v15.09.15",
                 bad: tuple[int, ...] = ()) -> pl.DataFrame:
    """Write `n` flat-grey PNGs (indices in `bad` get garbage bytes) and return their manifest rows."""
    dataset_dir = root / folder
    relpaths = [f"bounding_box_train/{i:04d}_c1s1_{i:06d}_01.png" for i in range(n)]
    for i, relpath in enumerate(relpaths):
        path = dataset_dir / relpath
        if i in bad:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"not an image")
        else:
            write_image(path, np.full((H, W, 3), grey_value(i), np.uint8))
    rows = manifest_rows(relpaths, root=dataset_dir, key=key, width=W, height=H, local_label=range(n), local_camid=0,
                         domain=0)
    write_gt_boxes(dataset_dir, rows["image_id"], GT, W, H)
    return rows


def write_manifest(root: Path, frames: list[pl.DataFrame]) -> Path:
    path = root / "train.parquet"
    pl.concat(frames).write_parquet(path)
    return path


def two_datasets(root: Path, n: int = 9) -> Path:
    """A manifest of `n` Market-1501 images and 4 DukeMTMC-reID ones."""
    return write_manifest(root, [make_dataset(root, n), make_dataset(root, 4, key="D", folder="DukeMTMC-reID")])


def run(manifest: Path, root: Path, expert, batch_size: int = 2, **config) -> dict:
    """The grounding stage on `manifest` with outputs under `root`; `config` = more `grounding` keys."""
    from reid.grounding.run import run_grounding

    return run_grounding(manifest, config=grounding(batch_size=batch_size, **config), expert=expert,
                         **run_paths(root))


def stable(frame: pl.DataFrame) -> pl.DataFrame:
    """A store frame without the timing column, for equality across runs."""
    return frame.drop("seconds")


class CountingExpert:
    """Wraps the oracle, looks at pixels, counts what it grounds; can crash or stall on cue.

    `crash_after` calls → raises KeyboardInterrupt (a BaseException: the runner must not
    swallow it, like a real interruption); `fail_on` image ids → raises inside `ground`;
    `delay` seconds of sleep per call (to be killed mid-run). `seen` lists the images it
    answered, `asked` every image it was called with (failed calls included).
    """

    needs_pixels = True

    def __init__(self, crash_after: int | None = None, fail_on: tuple[str, ...] = (), delay: float = 0.0,
                 whole_rate: float = 0.2) -> None:
        from reid.grounding.experts.oracle import OracleExpert

        self.inner = OracleExpert(section("grounding.oracle", whole_rate=whole_rate, split_rate=0.1, seed=1))
        self.name, self.version = self.inner.name, self.inner.version
        self.crash_after, self.fail_on, self.delay = crash_after, fail_on, delay
        self.calls, self.seen, self.asked = 0, [], []

    def identity(self):
        return self.inner.identity()

    def ground(self, items):
        import time

        if self.crash_after is not None and self.calls >= self.crash_after:
            raise KeyboardInterrupt("simulated interruption")
        self.calls += 1
        time.sleep(self.delay)
        assert all(it.rgb is not None and it.rgb.shape == (H, W, 3) for it in items)
        self.asked += [it.image_id for it in items]
        bad = [it.image_id for it in items if it.image_id in self.fail_on]
        if bad:
            raise RuntimeError(f"model choked on {bad[0]}")
        self.seen += [it.image_id for it in items]
        return self.inner.ground(items)


def run_paths(root: Path) -> dict[str, Path]:
    return {"store_root": root / "store", "out_path": root / "boxes.parquet",
            "sheet_path": root / "sheet.png", "summary_path": root / "summary.json"}


def dist_worker(rank: int, world: int, port: int, manifest: str, out_root: str) -> None:
    """One torchrun-like rank (env vars as torchrun sets them) running the grounding stage.

    Writes the image ids it grounded to `<out_root>/seen-<rank>.json`.
    """
    import json
    import os

    from reid.grounding.run import run_grounding

    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "REID_NO_PROGRESS": "1"})
    expert = CountingExpert()
    run_grounding(manifest, config=grounding(batch_size=2), expert=expert, **run_paths(Path(out_root)))
    (Path(out_root) / f"seen-{rank}.json").write_text(json.dumps(expert.seen))


def slow_run(manifest: str, out_root: str) -> None:
    """Entry point of the SIGKILL test's child process."""
    from reid.grounding.run import run_grounding

    run_grounding(manifest, config=grounding(batch_size=2), expert=CountingExpert(delay=0.3),
                  **run_paths(Path(out_root)))


def pedestrian_crops(n: int) -> list[np.ndarray]:
    """Walking people cut out of OpenCV's street video by background subtraction (OpenCV 5 has no HOG)."""
    cap = cv2.VideoCapture(str(VTEST))
    sub = cv2.createBackgroundSubtractorMOG2(history=100, detectShadows=False)
    crops = []
    for f in range(160):
        ok, frame = cap.read()
        assert ok, f"cannot read frame {f} of {VTEST}"
        mask = sub.apply(frame)
        if f < 100 or f % 20:
            continue
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((15, 7), np.uint8))
        for x, y, w, h, _ in cv2.connectedComponentsWithStats(mask)[2][1:]:
            if h > 80 and 0.25 < w / h < 0.7:
                crop = frame[max(0, y - 10):y + h + 10, max(0, x - 10):x + w + 10]
                crops.append(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
    return crops[:n]
