"""The `grounding` section and each expert's block: what `run_grounding` and the experts take."""

from __future__ import annotations

from typing import Literal

from pydantic import StrictBool, model_validator

from reid.config.section import Device, Fraction, Invalid, NonNegFloat, NonNegInt, PosInt, Section, Window
from reid.grounding.parts import PARTS, Part

ExpertName = Literal["cogvlm", "pose", "stripes", "oracle"]


class CogVLM(Section):
    """The paper's expert; `model` is a hub id or a local folder, `tokenizer` the model card's (CogVLM ships none);
    `device` auto = cuda:<LOCAL_RANK> when CUDA is present."""

    model: str
    revision: str
    tokenizer: str
    dtype: Literal["bfloat16", "float16", "float32"]
    load_in_4bit: StrictBool
    max_new_tokens: PosInt
    device: Device


class Pose(Section):
    """MediaPipe keypoints: a landmark counts above `visibility`; `pad` is a margin, as a fraction of the body height."""

    visibility: Fraction
    min_detection_confidence: Fraction
    pad: NonNegFloat


class Stripes(Section):
    """A vertical window [top, bottom] per part, as fractions of the image height."""

    windows: dict[Part, Window]

    @model_validator(mode="after")
    def _windows(self) -> Stripes:
        if set(self.windows) != set(PARTS):
            raise Invalid("windows", self.windows, f"needs exactly the parts {list(PARTS)}")
        for part, (top, bottom) in self.windows.items():
            if not top < bottom:
                raise Invalid(f"windows.{part}", [top, bottom], "must be [top, bottom] with top < bottom")
        return self


class Oracle(Section):
    """Ground truth with simulated errors: `whole_rate` of the parts answered with the whole image,
    `split_rate` with two tiny over-split boxes."""

    whole_rate: Fraction
    split_rate: Fraction
    seed: NonNegInt

    @model_validator(mode="after")
    def _rates(self) -> Oracle:
        if self.whole_rate + self.split_rate > 1:
            raise Invalid("split_rate", self.split_rate, f"whole_rate + split_rate must be at most 1 (whole_rate = {self.whole_rate})")
        return self


class Grounding(Section):
    """`batch_size` images per expert call (CogVLM: 3 sequences per image); an image answered `error` is
    grounded again until it has had `max_attempts`; the run fails when more than `max_error_fraction` of
    the images end in `error`."""

    expert: ExpertName
    batch_size: PosInt
    sheet_images: NonNegInt
    max_attempts: PosInt
    max_error_fraction: Fraction
    cogvlm: CogVLM
    pose: Pose
    stripes: Stripes
    oracle: Oracle

    @property
    def chosen(self) -> CogVLM | Pose | Stripes | Oracle:
        """The chosen expert's block."""
        return getattr(self, self.expert)
