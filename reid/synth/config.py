"""What to generate: the one typed configuration of the synthetic benchmark, validated where it is built."""

from __future__ import annotations

from dataclasses import dataclass

from reid.synth.styles import DOMAIN_STYLES


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. Defaults: ~950 images per domain, all four domains in < 60 s on 2 cores.

    `distractors` (pid 0, gallery) and `junk` (pid −1, gallery) apply to the Market
    look-alike only, as in the real datasets. Test identities get 1–2 queries from one
    camera and 4–6 gallery images (`queries_per_id`, `gallery_per_id`, inclusive ranges).
    `height`×`width` is the crop size (Market's 128×64); the D, MS and C3 look-alikes vary
    their crop sizes around it, like detector boxes do.
    """

    seed: int = 0
    train_ids: int = 100
    test_ids: int = 50
    images_per_id: int = 6
    queries_per_id: tuple[int, int] = (1, 2)
    gallery_per_id: tuple[int, int] = (4, 6)
    distractors: int = 30
    junk: int = 15
    height: int = 128
    width: int = 64
    domains: tuple[str, ...] = tuple(DOMAIN_STYLES)

    def __post_init__(self) -> None:
        for name in ("queries_per_id", "gallery_per_id", "domains"):  # YAML gives lists
            object.__setattr__(self, name, tuple(getattr(self, name)))
        problems = []
        if self.seed < 0:
            problems.append(f"seed must be >= 0 (got {self.seed})")
        if self.train_ids < 1 or self.test_ids < 1 or self.train_ids + self.test_ids > 4999:
            problems.append(f"train_ids and test_ids must be >= 1 and sum to <= 4999 (file names hold 4-digit "
                            f"pids; got {self.train_ids}, {self.test_ids})")
        if self.images_per_id < 2:
            problems.append(f"images_per_id must be >= 2 so every training id spans 2 cameras (got {self.images_per_id})")
        for name in ("queries_per_id", "gallery_per_id"):
            bounds = getattr(self, name)
            if len(bounds) != 2 or not 1 <= bounds[0] <= bounds[1]:
                problems.append(f"{name} must be a range [lo, hi] with 1 <= lo <= hi (got {list(bounds)})")
        if self.distractors < 0 or self.junk < 0:
            problems.append(f"distractors and junk must be >= 0 (got {self.distractors}, {self.junk})")
        if self.height < 64 or self.width < 32:
            problems.append(f"image size must be at least 64x32 (got {self.height}x{self.width})")
        unknown = [d for d in self.domains if d not in DOMAIN_STYLES]
        if unknown or not self.domains or len(set(self.domains)) != len(self.domains):
            problems.append(f"domains must be distinct keys from {list(DOMAIN_STYLES)} (got {list(self.domains)})")
        if problems:
            raise ValueError("invalid synth configuration: " + "; ".join(problems))

    @property
    def val_per_id(self) -> int:
        """MSMT17 look-alike: training images per id listed in list_val (~15%, at least one)."""
        return min(self.images_per_id - 1, max(1, round(0.15 * self.images_per_id)))
