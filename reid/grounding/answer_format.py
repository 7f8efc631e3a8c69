"""CogVLM's grounding answer format (SPEC §3) → normalised boxes and a status.

CogVLM writes boxes as `[[x0,y0,x1,y1]]`, integers = relative coordinate × 1000 zero-padded
to 3 digits, several boxes in one pair of brackets separated by `;`
(`[[100,020,880,300;120,310,870,640]]`); an answer may hold several bracket groups.

Decisions (a model answer is untrusted text; none of this ever raises):
- no `[[...]]` group at all → `no_box` (the model answered without a box), unless a `[[` is
  left open: a cut-off answer is a `parse_error` that names `max_new_tokens`;
- an empty piece (`[[a;]]`) is layout and skipped silently; a piece that is not four integers
  is skipped with a note; if no valid box remains → `parse_error`;
- numbers above 1000 are clipped to 1000 (noted in the message: the model left the image);
- corners given in the wrong order are sorted; a box of zero area is skipped.
"""

from __future__ import annotations

import re

from reid.grounding.parts import Box, PartResult

_GROUP = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)
_BOX = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*$")
SCALE = 1000
UNCLOSED = "a [[ box group is never closed (the answer was cut off? raise grounding.cogvlm.max_new_tokens)"


def parse_answer(raw: str) -> PartResult:
    """Parse one CogVLM answer; the raw text is kept in the result whatever its shape."""
    groups = _GROUP.findall(raw)
    unclosed = raw.count("[[") > len(groups)
    if not groups:
        if unclosed:
            return PartResult("parse_error", [], raw, UNCLOSED)
        return PartResult("no_box", [], raw, "answer holds no [[...]] box")
    boxes: list[Box] = []
    problems: list[str] = [UNCLOSED] if unclosed else []
    for group in groups:
        for piece in group.split(";"):
            if not piece.strip():  # `[[a;b;]]`: a trailing separator is layout, not a box
                continue
            match = _BOX.match(piece)
            if match is None:
                problems.append(f"not 4 integers: {piece.strip()[:40]!r}")
                continue
            values = [int(v) for v in match.groups()]
            if max(values) > SCALE:
                problems.append(f"clipped out-of-range {piece.strip()}")
                values = [min(v, SCALE) for v in values]
            x0, x1 = sorted((values[0], values[2]))
            y0, y1 = sorted((values[1], values[3]))
            if x1 == x0 or y1 == y0:
                problems.append(f"zero-area box {piece.strip()}")
                continue
            boxes.append((x0 / SCALE, y0 / SCALE, x1 / SCALE, y1 / SCALE))
    message = "; ".join(problems)
    if not boxes:
        return PartResult("parse_error", [], raw, message or "empty box group")
    return PartResult("ok", boxes, raw, message)


def format_boxes(boxes: list[Box]) -> str:
    """The inverse of `parse_answer` for boxes on the 0..1 grid (fakes and tests speak CogVLM)."""
    inner = ";".join(",".join(f"{round(v * SCALE):03d}" for v in box) for box in boxes)
    return f"[[{inner}]]"
