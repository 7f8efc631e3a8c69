"""A contact sheet of the generated benchmark, for a person to check it at a glance.

One row per domain; in each row a few test identities, each shown in a few cameras
(query first, then gallery images from other cameras). Whether the figures look like
people, whether the same identity is recognisable across cameras, and whether the domains
look different is easier to judge from this one picture than from any statistic.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from reid.synth.layouts import DATASETS, MARKER, read_split
from reid.utils.images import read_image, write_image

_CELL = (128, 64)  # tile H, W
_GAP, _LABEL = 4, 16


def _tiles_of_domain(dataset_dir: Path, key: str, n_ids: int, per_id: int) -> list[tuple[np.ndarray, str]]:
    """(tile, caption): `per_id` images of each of the first `n_ids` test identities with at
    least `per_id` images, distinct cameras first (query first)."""
    entries = read_split(dataset_dir, key, "query") + read_split(dataset_dir, key, "gallery")
    by_pid: dict[int, list[tuple[int, str]]] = {}
    for e in entries:
        if e.pid >= 0 and not (key == "MA" and e.pid == 0):  # no junk, no distractors
            by_pid.setdefault(e.pid, []).append((e.cam, e.relpath))
    tiles = []
    for pid in [p for p in sorted(by_pid) if len(by_pid[p]) >= per_id][:n_ids]:
        firsts: dict[int, tuple[int, str]] = {}
        for cam, rel in by_pid[pid]:
            firsts.setdefault(cam, (cam, rel))
        ordered = list(firsts.values()) + [x for x in by_pid[pid] if x not in firsts.values()]
        for cam, rel in ordered[:per_id]:
            img = cv2.resize(read_image(dataset_dir / rel), _CELL[::-1], interpolation=cv2.INTER_AREA)
            tiles.append((img, f"{pid} c{cam}"))
    return tiles


def write_contact_sheet(out_root: Path, png_path: Path, n_ids: int = 4, per_id: int = 3) -> None:
    """Write a PNG with one row per generated domain (read from `out_root`'s marker)."""
    out_root = Path(out_root)
    keys = list(json.loads((out_root / MARKER).read_text())["datasets"])
    h, w = _CELL
    cols = n_ids * per_id
    sheet_w = 40 + cols * (w + _GAP) + (n_ids - 1) * 3 * _GAP
    rows = []
    for key in keys:
        row = np.full((h + _LABEL + _GAP, sheet_w, 3), 255, np.uint8)
        cv2.putText(row, key, (4, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2, cv2.LINE_AA)
        for i, (tile, caption) in enumerate(_tiles_of_domain(out_root / DATASETS[key].folder, key, n_ids, per_id)):
            x = 40 + i * (w + _GAP) + (i // per_id) * 3 * _GAP
            row[:h, x:x + w] = tile
            cv2.putText(row, caption, (x, h + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(row)
    write_image(png_path, np.vstack(rows))
