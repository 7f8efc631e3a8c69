"""The `calibration` and `masks` sections: what `calibrate`, `collect_boxes` and `vote` take."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, model_validator

from reid.config.section import Fraction, Invalid, NonNegFloat, NonNegInt, PosFloat, PosInt, Section, Window
from reid.grounding.parts import Part

Choose = Literal["first", "largest", "union"]  # which box of an answer holding several
Rule = Literal["mad", "quantile"]  # mad: median ± k·σ̂ (robust); quantile: [q_low, q_high]
VoteRule = Literal["centre", "coverage"]
MaskMode = Literal["calibrated", "stripes"]  # stripes: equal-thirds masks for every image (paper Table 8)


class Calibration(Section):
    """`enabled` false reproduces the paper's "w/o calibration"; `min_spread` keeps the mad bounds at least
    ± this fraction of the median; fewer than `min_good` good boxes fall back to equal thirds;
    `stripe_windows` null = learnt from the good boxes; `sheet_images` sizes the contact sheet."""

    enabled: StrictBool
    choose: Choose
    rule: Rule
    mad_k: PosFloat
    min_spread: NonNegFloat
    quantiles: Annotated[list[Fraction], Field(min_length=2, max_length=2)]
    min_good: PosInt
    stripe_windows: dict[Part, Window] | None
    sheet_images: NonNegInt

    @model_validator(mode="after")
    def _quantiles(self) -> Calibration:
        low, high = self.quantiles
        if not low < high:
            raise Invalid("quantiles", self.quantiles, "must be [low, high] with low < high")
        return self


class Masks(Section):
    """`coverage`: under the coverage rule, the fraction of a patch its box must cover."""

    mode: MaskMode
    rule: VoteRule
    coverage: Annotated[float, Field(gt=0, le=1)]
