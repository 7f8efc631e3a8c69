"""The stripe-like baseline of the paper: fixed top / middle / bottom windows, no model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reid.grounding.answer_format import format_boxes
from reid.grounding.config import Stripes
from reid.grounding.experts.base import GroundItem
from reid.grounding.parts import PartResult


class StripesExpert:
    name = "stripes"
    version = "1"
    needs_pixels = False

    def __init__(self, config: Stripes) -> None:
        self.config = config
        self.results = {
            part: PartResult("ok", [(0.0, top, 1.0, bottom)], format_boxes([(0.0, top, 1.0, bottom)]))
            for part, (top, bottom) in config.windows.items()
        }

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "windows": {p: list(w) for p, w in self.config.windows.items()}}

    def ground(self, items: Sequence[GroundItem]) -> list[dict[str, PartResult]]:
        return [dict(self.results) for _ in items]
