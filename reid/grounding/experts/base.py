"""The one expert interface: a batch of images → per image, per part, a `PartResult`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from reid.grounding.parts import PartResult


@dataclass(frozen=True)
class GroundItem:
    """One training image as an expert sees it; `rgb` is None for experts that never look at pixels."""

    image_id: str
    dataset: str
    dataset_dir: str
    width: int
    height: int
    rgb: np.ndarray | None = None  # [H, W, 3] uint8


class Expert(Protocol):
    """A visual grounding expert.

    `name` and `version` go into every stored row; `identity()` lists everything that can
    change an answer (version, prompts, parameters), so the store never mixes two experts.
    """

    name: str
    version: str
    needs_pixels: bool

    def identity(self) -> dict[str, Any]: ...

    def ground(self, items: Sequence[GroundItem]) -> list[dict[str, PartResult]]: ...
