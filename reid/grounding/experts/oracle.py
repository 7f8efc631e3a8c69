"""Ground-truth boxes of the synthetic benchmark, with simulated expert errors.

Not a real expert: it reads `gt_boxes.parquet` from each synthetic dataset folder and, at
chosen rates, injects the two failure modes of the paper's Fig. 5 so calibration has
something real to fix — a hallucinated whole-image box, and an over-split answer of two
tiny boxes. Which part of which image fails depends only on (seed, image_id, part), never
on batch order or sharding. Reports name it `oracle-simulated` with its error rates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from reid.errors import ConfigError
from reid.grounding.answer_format import format_boxes
from reid.grounding.config import Oracle
from reid.grounding.experts.base import GroundItem
from reid.grounding.parts import PARTS, Box, PartResult, clip_box
from reid.synth.layouts import GT_BOXES, read_gt_boxes

SPLIT_PIECE = 0.12  # each over-split piece is this fraction of the true box height


def _uniform(seed: int, image_id: str, part: str) -> float:
    digest = hashlib.sha256(f"{seed}/{image_id}/{part}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def simulate_error(box: Box, u: float, config: Oracle) -> list[Box]:
    """The boxes a flawed expert would give for true `box`, drawn by the uniform number `u`."""
    if u < config.whole_rate:
        return [(0.0, 0.0, 1.0, 1.0)]
    if u < config.whole_rate + config.split_rate:
        x0, y0, x1, y1 = box
        h = (y1 - y0) * SPLIT_PIECE
        mid = (y0 + y1) / 2
        return [(x0, y0, x1, y0 + h), (x0, mid, x1, mid + h)]
    return [box]


class OracleExpert:
    name = "oracle-simulated"
    needs_pixels = False

    def __init__(self, config: Oracle) -> None:
        self.config = config
        self.version = f"gt+whole={config.whole_rate:g}+split={config.split_rate:g}+seed={config.seed}"
        self._gt: dict[str, dict[tuple[str, str], Box]] = {}

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}

    def check_data(self, dataset_dirs: Iterable[str]) -> None:
        """Refuse, before grounding anything, dataset folders without ground truth (real data)."""
        missing = [d for d in dataset_dirs if not (Path(d) / GT_BOXES).is_file()]
        if missing:
            raise ConfigError(
                "grounding.expert", "oracle",
                f"the oracle expert copies the ground-truth boxes ({GT_BOXES}) that only the synthetic benchmark "
                f"writes, and {len(missing)} dataset folder(s) have none: {', '.join(missing)}",
                fix="choose grounding.expert: pose, stripes or cogvlm for data without ground truth",
            )

    def _boxes_of(self, dataset_dir: str) -> dict[tuple[str, str], Box]:
        """Normalised ground-truth boxes of one dataset folder, read once."""
        if dataset_dir not in self._gt:
            path = Path(dataset_dir) / GT_BOXES
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} not found: the oracle expert only works on the synthetic benchmark "
                    f"(reid.synth writes it); choose grounding.expert: pose, stripes or cogvlm for real data"
                )
            self._gt[dataset_dir] = {
                (image_id, part): (x0, y0, x1, y1)
                for image_id, part, x0, y0, x1, y1 in read_gt_boxes(Path(dataset_dir)).iter_rows()
            }
        return self._gt[dataset_dir]

    def ground(self, items: Sequence[GroundItem]) -> list[dict[str, PartResult]]:
        out = []
        for item in items:
            gt = self._boxes_of(item.dataset_dir)
            results = {}
            for part in PARTS:
                true = gt.get((item.image_id, part))
                true = clip_box(true) if true is not None else None
                if true is None:
                    results[part] = PartResult("no_box", [], "", "no ground-truth box for this image")
                    continue
                boxes = simulate_error(true, _uniform(self.config.seed, item.image_id, part), self.config)
                results[part] = PartResult("ok", boxes, format_boxes(boxes))
            out.append(results)
        return out
