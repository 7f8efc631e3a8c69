"""Words for a synthetic person: named colours, the attribute record, and varied captions.

The demo learns its vision-language prior the way CLIP does, from image–caption pairs
(SPEC §8). A CLIP caption of a person names what can be seen — garments, colours, hair,
bag — in free word order and with synonyms, and never a name or an id. `caption` writes one
such sentence from an identity's attribute record, naming every attribute (an absent hat or
bag as "no hat" / "without a bag"), so a caption pins the record down and a text query can
tell two people apart. Some templates open like the re-ID stage's learnt prompts ("a photo
of a … person"). Identities have no gender, so the subject is always neutral.

Colour names: nearest prototype in CIE Lab (OpenCV's float conversion, L 0..100) with the
lightness axis weighted by one half. Plain Lab distance lets lightness dominate (light blue
reads as white, maroon as brown); halving it names colours by hue and chroma first, the way
people do. Several prototypes per name cover a name's spread (maroon is red, teal and olive
are green).
"""

from __future__ import annotations

import cv2
import numpy as np

from reid.synth.identities import RGB, Identity

COLOURS: dict[str, tuple[RGB, ...]] = {
    "black": ((25, 25, 28),),
    "white": ((240, 240, 238),),
    "grey": ((128, 128, 130), (185, 185, 188), (70, 70, 74)),
    "red": ((200, 32, 40), (130, 25, 35)),
    "blue": ((36, 76, 200), (20, 40, 220)),
    "navy": ((28, 36, 88), (0, 0, 128)),
    "light blue": ((130, 180, 230), (175, 215, 235)),
    "green": ((50, 140, 60), (30, 80, 45), (40, 134, 134), (90, 100, 50)),
    "yellow": ((240, 210, 50),),
    "orange": ((236, 128, 36),),
    "pink": ((240, 150, 190),),
    "purple": ((120, 60, 150), (175, 150, 210)),
    "brown": ((110, 70, 40), (70, 45, 30)),
    "beige": ((205, 185, 140),),
}
HAIR_COLOURS: dict[str, tuple[RGB, ...]] = {
    "black": ((22, 18, 18),),
    "brown": ((100, 66, 40), (60, 40, 28)),
    "blond": ((215, 185, 120),),
    "red": ((165, 75, 40),),
    "grey": ((150, 150, 150),),
    "white": ((230, 230, 228),),
}
PATTERN_WORDS = {"plain": "plain", "stripes": "striped", "split": "two-tone", "logo": "logo"}
BAG_WORDS = {"none": "none", "shoulder": "shoulder bag", "backpack": "backpack"}
NONE = "none"
FIELDS = ("shirt_colour", "shirt_pattern", "accent_colour", "sleeves", "legwear", "legwear_colour",
          "hair_colour", "hair_length", "hat_colour", "shoes_colour", "bag", "bag_colour")
VIEW_PHRASES = {
    "front": ("seen from the front", "facing the camera", "from the front"),
    "back": ("seen from the back", "seen from behind", "from behind"),
    "side": ("seen from the side", "in profile", "from the side"),
}

_LAB_WEIGHT = np.array([0.5, 1.0, 1.0], np.float32)


def _lab(rgbs: list[RGB]) -> np.ndarray:
    """[N, 3] weighted Lab coordinates of RGB uint8 triples."""
    rgb = np.array([rgbs], np.float32) / 255.0
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[0] * _LAB_WEIGHT


class _Palette:
    """Nearest-name lookup over a {name: prototypes} table."""

    def __init__(self, table: dict[str, tuple[RGB, ...]]) -> None:
        self.names = [name for name, protos in table.items() for _ in protos]
        self.lab = _lab([rgb for protos in table.values() for rgb in protos])

    def __call__(self, rgb: RGB) -> str:
        d = ((self.lab - _lab([rgb])) ** 2).sum(axis=1)
        return self.names[int(np.argmin(d))]


_CLOTHES = _Palette(COLOURS)
_HAIR = _Palette(HAIR_COLOURS)


def colour_name(rgb: RGB) -> str:
    """The palette name nearest to `rgb` (weighted Lab distance, see the module docstring)."""
    return _CLOTHES(rgb)


def hair_colour_name(rgb: RGB) -> str:
    """Hair has its own words (blond, not beige or yellow)."""
    return _HAIR(rgb)


def describe(identity: Identity) -> dict[str, str]:
    """The identity's attribute record as words, keyed by FIELDS ("none" where absent)."""
    plain = identity.pattern == "plain"
    return {
        "shirt_colour": colour_name(identity.shirt),
        "shirt_pattern": PATTERN_WORDS[identity.pattern],
        "accent_colour": NONE if plain else colour_name(identity.accent),
        "sleeves": "long-sleeved" if identity.long_sleeves else "short-sleeved",
        "legwear": identity.legwear,
        "legwear_colour": colour_name(identity.legs),
        "hair_colour": hair_colour_name(identity.hair),
        "hair_length": "long" if identity.long_hair else "short",
        "hat_colour": NONE if identity.hat is None else colour_name(identity.hat),
        "shoes_colour": colour_name(identity.shoes),
        "bag": BAG_WORDS[identity.bag],
        "bag_colour": NONE if identity.bag == "none" else colour_name(identity.bag_colour),
    }


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _join(items: list[str], rng: np.random.Generator) -> str:
    """'a, b and c' or 'a, b, c' (list style varies too)."""
    if len(items) == 1 or rng.random() < 0.25:
        return ", ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _upper(rec: dict[str, str], rng: np.random.Generator) -> str:
    """The shirt: colour, pattern (with its second colour) and sleeves, e.g. 'a red and white
    striped long-sleeved top', 'a white short-sleeved t-shirt with a pink logo'."""
    long = rec["sleeves"] == "long-sleeved"
    noun = _pick(rng, ("shirt", "top", "sweater", "jacket") if long else ("shirt", "t-shirt", "top", "tee"))
    col, acc, sleeves, pattern = rec["shirt_colour"], rec["accent_colour"], rec["sleeves"], rec["shirt_pattern"]
    if pattern == "plain":
        forms = (f"plain {col} {sleeves} {noun}", f"{sleeves} plain {col} {noun}", f"{sleeves} {noun} in plain {col}")
    elif pattern == "striped":
        forms = (f"{col} and {acc} striped {sleeves} {noun}", f"{sleeves} {col} {noun} with {acc} stripes",
                 f"{col} {sleeves} {noun} striped in {acc}")
    elif pattern == "two-tone":
        forms = (f"two-tone {col} and {acc} {sleeves} {noun}", f"{sleeves} two-tone {noun}, half {col} and half {acc}")
    else:
        forms = (f"{col} {sleeves} {noun} with {_article(acc)} logo", f"{sleeves} {col} {noun} with {_article(acc)} logo "
                 "on the chest", f"{col} {sleeves} {noun} bearing {_article(acc)} logo")
    return _article(_pick(rng, forms))


def _legs(rec: dict[str, str], rng: np.random.Generator) -> str:
    col, kind = rec["legwear_colour"], rec["legwear"]
    if kind == "skirt":
        return _article(f"{col} skirt")
    if kind == "shorts":
        return _pick(rng, (f"{col} shorts", f"a pair of {col} shorts"))
    jeans = col in ("blue", "navy", "light blue", "black")  # jeans only in denim colours
    noun = _pick(rng, ("trousers", "pants", "jeans") if jeans else ("trousers", "pants"))
    return _pick(rng, (f"{col} {noun}", f"a pair of {col} {noun}"))


def _shoes(rec: dict[str, str], rng: np.random.Generator) -> str:
    return f"{rec['shoes_colour']} {_pick(rng, ('shoes', 'sneakers', 'trainers'))}"


def _hair(rec: dict[str, str]) -> str:
    return f"{rec['hair_length']} {rec['hair_colour']} hair"


def _hat(rec: dict[str, str], rng: np.random.Generator) -> str:
    if rec["hat_colour"] == NONE:
        return _pick(rng, ("no hat", "no cap"))
    return _article(f"{rec['hat_colour']} {_pick(rng, ('hat', 'cap'))}")


def _bag(rec: dict[str, str], rng: np.random.Generator, verb: bool) -> str:
    """The bag, as an object ('a black backpack') or, with `verb`, as a clause ('carrying …')."""
    if rec["bag"] == NONE:
        return _pick(rng, ("carrying no bag", "without a bag")) if verb else "no bag"
    noun = rec["bag"] if rec["bag"] == "shoulder bag" or rng.random() < 0.7 else "rucksack"
    thing = _article(f"{rec['bag_colour']} {noun}")
    return f"{_pick(rng, ('carrying', 'with'))} {thing}" if verb else thing


SUBJECTS = ("a person", "someone", "a pedestrian", "a passer-by")
CLIP_OPENINGS = ("a photo of", "a picture of", "photo of", "an image of", "a cropped photo of")


def caption(identity: Identity, rng: np.random.Generator, view: str | None = None) -> str:
    """One caption of `identity`, template, word order and synonyms drawn from `rng`.

    Every field of `describe(identity)` is named. `view` (one of person.VIEWS), when given,
    may add a phrase such as 'seen from the back': it is what that image shows.
    """
    rec = describe(identity)
    subject = _pick(rng, SUBJECTS)
    upper, legs, shoes, hair, hat = _upper(rec, rng), _legs(rec, rng), _shoes(rec, rng), _hair(rec), _hat(rec, rng)
    clothes = [upper, legs, shoes]
    extras = [hair, hat, _bag(rec, rng, verb=False)]
    rng.shuffle(extras)
    template = int(rng.integers(7))
    if template == 0:  # CLIP-style: "a photo of a person wearing …, with …"
        text = f"{_pick(rng, CLIP_OPENINGS)} {subject} wearing {_join(clothes, rng)}, with {_join(extras, rng)}"
    elif template == 1:  # "a photo of a person with long black hair in …, carrying …"
        text = (f"{_pick(rng, CLIP_OPENINGS)} {subject} with {hair} and {hat} in {_join(clothes, rng)}, "
                f"{_bag(rec, rng, verb=True)}")
    elif template == 2:  # "a person in … and …, with …"
        text = f"{subject} in {_join([upper, legs], rng)}, with {_join([shoes, *extras], rng)}"
    elif template == 3:  # "someone with long black hair, a white t-shirt …" (everything after "with")
        items = [hair, upper, legs, shoes, hat, _bag(rec, rng, verb=False)]
        text = f"{subject} with {_join(items, rng)}"
    elif template == 4:  # "a person wearing …; long black hair, no hat, …"
        text = f"{subject} wearing {_join([upper, legs, shoes], rng)}; {', '.join(extras)}"
    elif template == 5:  # attribute list in a random order, like tags
        items = [upper, legs, shoes, *extras]
        rng.shuffle(items)
        text = f"{_pick(rng, CLIP_OPENINGS)} {subject}: {', '.join(items)}"
    else:  # hair first: "a person with long black hair wearing … and carrying …"
        text = (f"{subject} with {hair} wearing {_join([upper, legs, shoes, hat], rng)}, "
                f"{_bag(rec, rng, verb=True)}")
    if view is not None and rng.random() < 0.5:
        text += f", {_pick(rng, VIEW_PHRASES[view])}"
    return text[0].upper() + text[1:] + "." if rng.random() < 0.5 else text
