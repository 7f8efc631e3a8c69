"""The stripe-like baseline of the paper: fixed top / middle / bottom windows, no model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reid.grounding.answer_format import format_boxes
from reid.grounding.experts.base import GroundItem
from reid.grounding.parts import EQUAL_THIRDS, PARTS, PartResult


@dataclass(frozen=True)
class StripesConfig:
    """Vertical window [top, bottom] per part as fractions of the image height."""

    windows: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(EQUAL_THIRDS))

    def __post_init__(self) -> None:
        if set(self.windows) != set(PARTS):
            raise ValueError(f"grounding.stripes.windows needs exactly the parts {PARTS}, got {sorted(self.windows)}")
        for part, (top, bottom) in self.windows.items():
            if not 0.0 <= top < bottom <= 1.0:
                raise ValueError(f"grounding.stripes.windows.{part} = [{top}, {bottom}] must satisfy 0 <= top < bottom <= 1")


class StripesExpert:
    name = "stripes"
    version = "1"
    needs_pixels = False

    def __init__(self, config: StripesConfig) -> None:
        self.config = config
        self.results = {
            part: PartResult("ok", [(0.0, top, 1.0, bottom)], format_boxes([(0.0, top, 1.0, bottom)]))
            for part, (top, bottom) in config.windows.items()
        }

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "windows": {p: list(w) for p, w in self.config.windows.items()}}

    def ground(self, items: Sequence[GroundItem]) -> list[dict[str, PartResult]]:
        return [dict(self.results) for _ in items]
