"""The three body parts, their grounding prompts (SPEC §3), and one part's answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

Part = Literal["head", "upper", "legs"]  # in this order: the rows of G and the local tokens
PARTS: tuple[str, ...] = get_args(Part)
PART_PHRASES: dict[str, str] = {
    "head": "the head of the person",
    "upper": "the upper body of the person",
    "legs": "the legs of the person",
}
PROMPT_TEMPLATE = "Guide me to the location of {phrase} within the image by providing its bounding boxes."
PROMPTS: dict[str, str] = {p: PROMPT_TEMPLATE.format(phrase=PART_PHRASES[p]) for p in PARTS}

# The equal-thirds windows (y0, y1) of the paper's stripe baselines (Table 8): the one definition
# behind the `stripes` mask mode, calibration's fallback window and the model's stripe attention.
EQUAL_THIRDS: dict[str, tuple[float, float]] = {"head": (0.0, 1 / 3), "upper": (1 / 3, 2 / 3), "legs": (2 / 3, 1.0)}

STATUSES: tuple[str, ...] = ("ok", "no_box", "parse_error", "error")

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 normalised to 0..1 (x1, y1 exclusive)


@dataclass(frozen=True)
class PartResult:
    """One expert answer for one image part: normalised boxes, the raw answer, and its status."""

    status: str
    boxes: list[Box] = field(default_factory=list)
    raw: str = ""
    message: str = ""


def clip_box(box: Box) -> Box | None:
    """Clip to the unit square; None if nothing of positive area is left."""
    x0, y0, x1, y1 = (min(1.0, max(0.0, float(v))) for v in box)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None
