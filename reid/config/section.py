"""What every params section is built from: the closed, frozen `Section`, `Invalid`, and the shared bounded types.

Import-light (pydantic only): every package's `config` module builds on it, and every stage
validates the whole tree, so importing a section must never pull in torch.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

DEVICE_PATTERN = r"^(auto|cpu|mps|cuda(:[0-9]+)?)$"

PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Device = Annotated[str, Field(pattern=DEVICE_PATTERN)]
Window = Annotated[list[Fraction], Field(min_length=2, max_length=2)]
Pair = Annotated[list[PosInt], Field(min_length=2, max_length=2)]


class Invalid(ValueError):
    """A check across keys of one section failed: names the key (relative to the section) and the value."""

    def __init__(self, key: str, value: Any, problem: str):
        self.key, self.value, self.problem = key, value, problem
        super().__init__(f"{key} = {value!r}: {problem}")


class Section(BaseModel):
    """A params.yaml section: closed (an unknown key is a typo), immutable once loaded; no defaults,
    so that every key is required (configs/paper.yaml and params.yaml hold the same keys)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
