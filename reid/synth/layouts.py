"""The four on-disk layouts the generator writes (SPEC §2), and their reading back.

Names follow the real datasets exactly, so the ingestion readers work on synthetic and
real data unchanged:

- MA  `Market-1501-v15.09.15/{bounding_box_train,query,bounding_box_test}/0002_c1s1_000451_03.jpg`
  (junk `-1_c1s1_000401_03.jpg` and distractors `0000_...` in bounding_box_test)
- D   `DukeMTMC-reID/{...same folders}/0001_c2_f0046182.jpg`
- MS  `MSMT17_V1/{train,test}/0000/0000_000_01_0303morning_0015_0.jpg` + `list_{train,val,query,gallery}.txt`
  (train and test pids each start at 0, like the real set)
- C3  `cuhk03-np/detected/{...same folders}/0001_c1_1.png`

A namer hands out pids and unique file names; `read_split` parses them back (baseline,
contact sheet, tests) without depending on the ingestion package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

SPLITS = ("train", "query", "gallery")
MARKER = "SYNTHETIC.json"
GT_BOXES = "gt_boxes.parquet"


def read_gt_boxes(dataset_dir: Path) -> pl.DataFrame:
    """Ground-truth part boxes of a synthetic dataset folder, normalised to 0..1 (image_id, part, x0..y1)."""
    gt = pl.read_parquet(Path(dataset_dir) / GT_BOXES)
    return gt.select(
        "image_id", "part",
        pl.col("x0") / pl.col("width"), pl.col("y0") / pl.col("height"),
        pl.col("x1") / pl.col("width"), pl.col("y1") / pl.col("height"),
    )


MSMT_LISTS = {split: f"list_{split}.txt" for split in ("train", "val", "query", "gallery")}
_MARKET_DIRS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
_FOLDER_NAME = re.compile(r"^([-\d]+)_c(\d+)")
_MSMT_NAME = re.compile(r"^(\d+)_\d+_(\d+)_")
_MSMT_DATES = ("0113", "0114", "0302", "0303")


@dataclass(frozen=True)
class DatasetFiles:
    """Where one dataset look-alike lives: its folder and the folder of each split."""

    key: str
    folder: str
    split_dirs: dict[str, str]  # relative to the dataset folder


DATASETS: dict[str, DatasetFiles] = {
    "MA": DatasetFiles("MA", "Market-1501-v15.09.15", _MARKET_DIRS),
    "D": DatasetFiles("D", "DukeMTMC-reID", _MARKET_DIRS),
    "MS": DatasetFiles("MS", "MSMT17_V1", {"train": "train", "query": "test", "gallery": "test"}),
    "C3": DatasetFiles("C3", "cuhk03-np", {s: f"detected/{d}" for s, d in _MARKET_DIRS.items()}),
}


class Namer:
    """Hands out pids and file names for one dataset; names are unique by construction."""

    def __init__(self, key: str, rng: np.random.Generator) -> None:
        self.key, self.rng = key, rng
        self.used: set[str] = set()
        self.counter: dict[tuple[str, int], int] = {}

    def pids(self, n_train: int, n_test: int) -> tuple[list[int], list[int]]:
        """Train and test pids: disjoint, sparse and sorted for Market-style sets (as the real
        ones are); 0..n-1 in each split for MSMT17, whose splits have separate pid spaces."""
        if self.key == "MS":
            return list(range(n_train)), list(range(n_test))
        space = max(1501, 2 * (n_train + n_test))
        drawn = self.rng.choice(np.arange(1, space + 1), n_train + n_test, replace=False)
        order = self.rng.permutation(n_train + n_test)
        return sorted(int(p) for p in drawn[order[:n_train]]), sorted(int(p) for p in drawn[order[n_train:]])

    def _next(self, split: str, pid: int) -> int:
        """Running per-pid image index within a split folder (query and gallery share MSMT's test/)."""
        group = "train" if split == "train" else "test"
        n = self.counter.get((group, pid), 0)
        self.counter[(group, pid)] = n + 1
        return n

    def name(self, split: str, pid: int, cam: int, time: str, date: int) -> str:
        """The file's path relative to the dataset folder."""
        rng, folder = self.rng, DATASETS[self.key].split_dirs[split]
        while True:
            if self.key == "MA":
                pid_s = "-1" if pid == -1 else f"{pid:04d}"
                stem = f"{pid_s}_c{cam}s{rng.integers(1, 7)}_{rng.integers(1, 999999):06d}_{rng.integers(1, 9):02d}.jpg"
            elif self.key == "D":
                stem = f"{pid:04d}_c{cam}_f{rng.integers(1, 9999999):07d}.jpg"
            elif self.key == "MS":
                idx = self._next(split, pid)
                day = _MSMT_DATES[date % len(_MSMT_DATES)]
                frame, k = rng.integers(1, 9999), rng.integers(0, 3)
                stem = f"{pid:04d}/{pid:04d}_{idx:03d}_{cam:02d}_{day}{time}_{frame:04d}_{k}.jpg"
            else:
                stem = f"{pid:04d}_c{cam}_{self._next(split, pid) + 1}.png"
            rel = f"{folder}/{stem}"
            if rel not in self.used:
                self.used.add(rel)
                return rel


def msmt_lists(entries: list[tuple[str, str, int]], val_per_id: int) -> dict[str, list[str]]:
    """MSMT17 list-file lines from (split, relpath, pid) entries, in generation order.

    The last `val_per_id` training images of each identity go to list_val (the real set
    also keeps a few images of every training identity for validation). Lines are
    `path label`, with the path relative to train/ or test/.
    """
    lines: dict[str, list[str]] = {name: [] for name in MSMT_LISTS}
    per_pid: dict[int, list[str]] = {}
    for split, rel, pid in entries:
        inner = rel.split("/", 1)[1]
        if split == "train":
            per_pid.setdefault(pid, []).append(f"{inner} {pid}")
        else:
            lines[split].append(f"{inner} {pid}")
    for pid in sorted(per_pid):
        items = per_pid[pid]
        lines["train"].extend(items[: len(items) - val_per_id])
        lines["val"].extend(items[len(items) - val_per_id:])
    return {name: sorted(items) for name, items in lines.items()}


@dataclass(frozen=True)
class ImageEntry:
    """One image read back from a layout."""

    relpath: str  # posix, relative to the dataset folder
    pid: int
    cam: int  # 1-based, as on disk


def read_split(dataset_dir: Path, key: str, split: str) -> list[ImageEntry]:
    """The images of one split as written by this generator (junk included, pid −1).

    MSMT17's train split is list_train + list_val. Sorted by path.
    """
    files = DATASETS[key]
    entries = []
    if key == "MS":
        base = files.split_dirs[split]
        names = (MSMT_LISTS["train"], MSMT_LISTS["val"]) if split == "train" else (MSMT_LISTS[split],)
        for name in names:
            for line in (dataset_dir / name).read_text().splitlines():
                rel, label = line.split()
                cam = int(_MSMT_NAME.match(Path(rel).name).group(2))
                entries.append(ImageEntry(f"{base}/{rel}", int(label), cam))
    else:
        folder = files.split_dirs[split]
        for path in (dataset_dir / folder).iterdir():
            m = _FOLDER_NAME.match(path.name)
            entries.append(ImageEntry(f"{folder}/{path.name}", int(m.group(1)), int(m.group(2))))
    return sorted(entries, key=lambda e: e.relpath)
