"""The `data` and `protocol` sections, and `train.augment` (what the training loaders take)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, model_validator

from reid.config.section import Fraction, Invalid, NonNegInt, PosInt, Section
from reid.data.layouts import LAYOUTS

BUILTIN_DATASETS: tuple[str, ...] = tuple(LAYOUTS)
CUSTOM_KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"


class Data(Section):
    root: str
    datasets: Literal["auto"] | Annotated[list[str], Field(min_length=1)]
    cuhk03_subset: Literal["detected", "labeled"]
    custom: dict[Annotated[str, Field(pattern=CUSTOM_KEY_PATTERN)], str]
    workers: PosInt

    @property
    def known(self) -> tuple[str, ...]:
        """Every dataset key a protocol may name: the built-in ones and the custom ones."""
        return (*BUILTIN_DATASETS, *self.custom)

    @model_validator(mode="after")
    def _known_keys(self) -> Data:
        clash = sorted(set(self.custom) & set(BUILTIN_DATASETS))
        if clash:
            raise Invalid(f"custom.{clash[0]}", self.custom[clash[0]], "the key is a built-in dataset's; choose another name")
        if self.datasets != "auto":
            unknown = [k for k in self.datasets if k not in self.known]
            if unknown:
                raise Invalid("datasets", self.datasets, f"{unknown[0]!r} is no dataset; allowed: auto, or a list of {', '.join(self.known)}")
        return self


class Protocol(Section):
    source: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$")]
    targets: Literal["auto"] | Annotated[list[str], Field(min_length=1)]

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.source.split("+"))

    @model_validator(mode="after")
    def _distinct(self) -> Protocol:
        if len(set(self.sources)) != len(self.sources):
            raise Invalid("source", self.source, "names a dataset twice")
        return self


class Augment(Section):
    """Training augmentation: flip of image + masks (paper); crop with padding and erasing (switches,
    Table 11); and, as probabilities off by default, CLIP-FGDI's photometric ones (its official
    code trains with grayscale 0.1, colour jitter 0.1, AugMix 0.6), which leave the masks alone."""

    flip: Fraction
    random_crop: StrictBool
    crop_pad: NonNegInt
    random_erasing: Fraction
    grayscale: Fraction
    color_jitter: Fraction
    augmix: Fraction
