"""The `synth` section (the embedded benchmark) and `pretrain.data` (the captioned pool): what `generate_*` take."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from reid.config.section import Invalid, NonNegInt, Pair, PosInt, Section

Height = Annotated[int, Field(ge=64)]  # the smallest crop the person renderer draws
Width = Annotated[int, Field(ge=32)]


class Synth(Section):
    """What to generate: test identities get 1–2 queries from one camera and 4–6 gallery images
    (`queries_per_id`, `gallery_per_id`, inclusive ranges); `distractors` (pid 0) and `junk` (pid −1)
    apply to the Market look-alike only, as in the real datasets; `height`×`width` is the crop size,
    which the D, MS and C3 look-alikes vary around, like detector boxes do."""

    out: str
    seed: NonNegInt
    train_ids: PosInt
    test_ids: PosInt
    images_per_id: PosInt
    queries_per_id: Pair
    gallery_per_id: Pair
    distractors: NonNegInt
    junk: NonNegInt
    height: Height
    width: Width

    @model_validator(mode="after")
    def _ranges(self) -> Synth:
        if self.train_ids + self.test_ids > 4999:
            raise Invalid("test_ids", self.test_ids, "train_ids + test_ids must be <= 4999 (file names hold 4-digit pids)")
        if self.images_per_id < 2:
            raise Invalid("images_per_id", self.images_per_id, "must be >= 2, so that every training identity spans 2 cameras")
        for name in ("queries_per_id", "gallery_per_id"):
            low, high = getattr(self, name)
            if low > high:
                raise Invalid(name, [low, high], "must be a range [low, high] with low <= high")
        return self

    @property
    def val_per_id(self) -> int:
        """MSMT17 look-alike: training images per id listed in list_val (~15%, at least one)."""
        return min(self.images_per_id - 1, max(1, round(0.15 * self.images_per_id)))


class Captioned(Section):
    """`pretrain.data`: `identities` people × `images_per_id` photos of `height`×`width`; the last
    `test_identities` of the pool are held out (zero-shot text→image retrieval), the others train."""

    seed: NonNegInt
    identities: PosInt
    images_per_id: PosInt
    test_identities: PosInt
    height: Height
    width: Width

    @model_validator(mode="after")
    def _held_out(self) -> Captioned:
        if self.test_identities >= self.identities:
            raise Invalid("test_identities", self.test_identities, f"must be fewer than identities ({self.identities})")
        return self

    def split(self, identity: int) -> str:
        """'test' for the held-out identities, else 'train'."""
        return "test" if identity >= self.identities - self.test_identities else "train"
