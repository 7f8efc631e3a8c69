"""Identity attributes: what makes one synthetic pedestrian a different person from another.

The benchmark must reward part-level features over global ones (the paper's premise), so
identities are sampled on purpose to be confusable as a whole and separable by parts:

- every part draws from a small domain wardrobe, so many people share a shirt colour;
- identities come in *families* that share one colour pair, swapped between top and bottom
  (red shirt + blue trousers vs blue shirt + red trousers have the same whole-body colour
  histogram), and differ in part details (pattern, sleeves, legwear, bag, shoes) and in the
  head: every member has its own hair colour and skin tone (hat and hair length drawn per
  member too), so the head tells look-alikes apart as it does in real data (an earlier version
  gave a family one head look, and the head token carried almost no identity);
- the full attribute set is unique within a domain's pool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RGB = tuple[int, int, int]

PATTERNS = ("plain", "stripes", "split", "logo")
BAGS = ("none", "shoulder", "backpack")
LEGWEAR = ("trousers", "shorts", "skirt")


@dataclass(frozen=True)
class Wardrobe:
    """A domain's fashion: the colours people wear and how often each garment occurs.

    Different wardrobes per domain are part of the domain gap (summer campus vs winter
    campus), like the palette shift between Market-1501 and DukeMTMC-reID.
    """

    clothes: tuple[RGB, ...]
    skin: tuple[RGB, ...]
    hair: tuple[RGB, ...]
    shoes: tuple[RGB, ...]
    bags: tuple[RGB, ...]
    long_sleeves: float  # probability
    legwear: tuple[float, float, float]  # probabilities of LEGWEAR
    bag: tuple[float, float, float]  # probabilities of BAGS
    pattern: tuple[float, float, float, float] = (0.5, 0.2, 0.15, 0.15)  # probabilities of PATTERNS
    hat: float = 0.15
    long_hair: float = 0.35


@dataclass(frozen=True)
class Identity:
    """One person: the attribute set every image of that person is drawn from."""

    skin: RGB
    hair: RGB
    long_hair: bool
    hat: RGB | None
    shirt: RGB
    accent: RGB  # second colour of the shirt pattern (stripes, split half, logo)
    pattern: str  # one of PATTERNS
    long_sleeves: bool
    bag: str  # one of BAGS
    bag_colour: RGB
    legwear: str  # one of LEGWEAR
    legs: RGB
    shoes: RGB
    build: float  # torso width factor, ~0.9..1.1


def _pick(rng: np.random.Generator, options: tuple) -> object:
    return options[int(rng.integers(len(options)))]


def _member(rng: np.random.Generator, wardrobe: Wardrobe, shirt: RGB, legs: RGB, skin: RGB, hair: RGB) -> Identity:
    """One family member: the family's colours, its own head and part details."""
    accents = tuple(c for c in wardrobe.clothes if c != shirt)
    return Identity(
        skin=skin,
        hair=hair,
        long_hair=bool(rng.random() < wardrobe.long_hair),
        hat=_pick(rng, wardrobe.bags + wardrobe.clothes[:3]) if rng.random() < wardrobe.hat else None,
        shirt=shirt,
        accent=_pick(rng, accents),
        pattern=PATTERNS[int(rng.choice(len(PATTERNS), p=wardrobe.pattern))],
        long_sleeves=bool(rng.random() < wardrobe.long_sleeves),
        bag=BAGS[int(rng.choice(len(BAGS), p=wardrobe.bag))],
        bag_colour=_pick(rng, wardrobe.bags),
        legwear=LEGWEAR[int(rng.choice(len(LEGWEAR), p=wardrobe.legwear))],
        legs=legs,
        shoes=_pick(rng, wardrobe.shoes),
        build=float(np.round(rng.uniform(0.9, 1.1), 3)),
    )


def sample_identities(rng: np.random.Generator, n: int, wardrobe: Wardrobe) -> list[Identity]:
    """`n` distinct identities in families of 2–3 (consecutive in the returned list).

    Families stay consecutive so that a split cut from the list (test ids) holds the
    look-alikes together, which is what makes the test split hard for global features.
    """
    seen: set[Identity] = set()
    out: list[Identity] = []
    n_colours = len(wardrobe.clothes)
    while len(out) < n:
        a, b = (wardrobe.clothes[int(i)] for i in rng.choice(n_colours, 2, replace=False))
        size = int(rng.integers(2, 4))
        hairs = rng.choice(len(wardrobe.hair), size, replace=False)  # the palettes hold >= 3 colours
        for member in range(size):
            shirt, legs = (a, b) if member % 2 == 0 else (b, a)
            ident = _member(rng, wardrobe, shirt, legs, _pick(rng, wardrobe.skin), wardrobe.hair[int(hairs[member])])
            if ident in seen:
                continue
            seen.add(ident)
            out.append(ident)
            if len(out) == n:
                break
    return out


def random_identity(rng: np.random.Generator, wardrobe: Wardrobe) -> Identity:
    """A one-off person from the wardrobe (a passer-by), outside any identity pool."""
    a, b = (wardrobe.clothes[int(i)] for i in rng.choice(len(wardrobe.clothes), 2, replace=False))
    return _member(rng, wardrobe, a, b, _pick(rng, wardrobe.skin), _pick(rng, wardrobe.hair))
