"""Captioned pre-training data (SPEC §8): colour names, captions that name every attribute,
determinism, and the web-style pool's files, split and disjointness from the Re-ID domains."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from reid.synth.captioned import (
    CAPTIONS,
    MARKER,
    WEB_CODE,
    generate_captioned,
    web_pool,
)
from reid.synth.captions import FIELDS, caption, colour_name, describe, hair_colour_name
from reid.synth.identities import sample_identities
from reid.synth.person import VIEWS
from reid.synth.plan import DOMAIN_CODES, plan_domain
from reid.synth.styles import DOMAIN_STYLES, WARDROBES
from reid.utils.images import probe_image
from tests.kit.params import section

TINY = section("pretrain.data", seed=3, identities=6, images_per_id=2, test_identities=2)
# accepted surface forms, written out independently of the caption templates
LEG_NOUNS = {"trousers": "(?:trousers|pants|jeans)", "shorts": "shorts", "skirt": "skirt"}
PATTERN_STEMS = {"plain": "plain", "striped": "stripe", "two-tone": "two-tone", "logo": "logo"}


def _people() -> list:
    """Web identities and every domain's, so captions are checked on both kinds."""
    rng = np.random.default_rng(11)
    domain = [ident for w in WARDROBES.values() for ident in sample_identities(rng, 40, w)]
    return web_pool(5, 160) + domain


def _has(pattern: str, text: str) -> bool:
    return re.search(rf"\b{pattern}\b", text) is not None


def _missing(text: str, rec: dict[str, str]) -> list[str]:
    """The fields of `rec` that caption `text` does not name."""
    text = text.lower()
    checks = {
        "shirt_colour": _has(rec["shirt_colour"], text),
        "shirt_pattern": PATTERN_STEMS[rec["shirt_pattern"]] in text,
        "accent_colour": rec["accent_colour"] == "none" or _has(rec["accent_colour"], text),
        "sleeves": rec["sleeves"] in text,
        "legwear": _has(f"{rec['legwear_colour']} {LEG_NOUNS[rec['legwear']]}", text),
        "hair_colour": _has(f"{rec['hair_length']} {rec['hair_colour']} hair", text),
        "hat_colour": _has("no (?:hat|cap)" if rec["hat_colour"] == "none" else f"{rec['hat_colour']} (?:hat|cap)", text),
        "shoes_colour": _has(f"{rec['shoes_colour']} (?:shoes|sneakers|trainers)", text),
        "bag": _has("(?:no|without a) bag" if rec["bag"] == "none"
                    else f"{rec['bag_colour']} (?:{rec['bag']}|rucksack)", text),
    }
    # legwear_colour, hair_length and bag_colour are checked inside the phrases above
    assert set(checks) | {"legwear_colour", "hair_length", "bag_colour"} == set(FIELDS)
    return [name for name, ok in checks.items() if not ok]


@pytest.mark.parametrize(("rgb", "name"), [
    ((255, 0, 0), "red"), ((30, 30, 34), "black"), ((0, 0, 0), "black"), ((255, 255, 255), "white"),
    ((128, 128, 128), "grey"), ((0, 0, 255), "blue"), ((0, 0, 128), "navy"), ((173, 216, 230), "light blue"),
    ((0, 160, 0), "green"), ((255, 255, 0), "yellow"), ((255, 165, 0), "orange"), ((255, 192, 203), "pink"),
    ((128, 0, 128), "purple"), ((139, 69, 19), "brown"), ((195, 176, 145), "beige"), ((112, 30, 42), "red"),
])
def test_colour_name_hand_picked(rgb: tuple[int, int, int], name: str) -> None:
    assert colour_name(rgb) == name


def test_hair_colour_names() -> None:
    assert [hair_colour_name(c) for c in ((20, 18, 18), (110, 70, 40), (220, 190, 120), (235, 235, 235))] == [
        "black", "brown", "blond", "white"]


def test_every_attribute_named_no_digits_no_gender() -> None:
    for i, ident in enumerate(_people()):
        rec = describe(ident)
        assert set(rec) == set(FIELDS)
        for k in range(3):
            text = caption(ident, np.random.default_rng([i, k]), VIEWS[k])
            assert not _missing(text, rec), (text, rec, _missing(text, rec))
            assert not re.search(r"\d", text), text
            assert not re.search(r"\b(?:man|woman|men|women|he|she|his|her|boy|girl|male|female)\b", text.lower())


def test_caption_deterministic_and_varied() -> None:
    ident = web_pool(0, 1)[0]
    assert caption(ident, np.random.default_rng(4), "back") == caption(ident, np.random.default_rng(4), "back")
    texts = [caption(ident, np.random.default_rng(seed)) for seed in range(300)]
    openings = {" ".join(t.lower().split()[:2]) for t in texts}
    # a template's fingerprint: opening words and the order in which hair, legs and shoes come
    rec = describe(ident)
    keys = ("hair", LEG_NOUNS[rec["legwear"]], "(?:shoes|sneakers|trainers)")
    orders = {tuple(np.argsort([re.search(k, t).start() for k in keys])) for t in texts}
    assert len(openings) >= 8 and len(orders) >= 4
    assert len(set(texts)) > 250
    assert any(t.lower().startswith("a photo of a person") for t in texts)


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_generate_small(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    frame = generate_captioned(one, TINY, workers=1)
    assert frame.height == 12 and frame["identity"].n_unique() == 6
    assert frame.columns[:6] == ["path", "caption", "identity", "image", "split", "view"]
    assert set(FIELDS) <= set(frame.columns)
    assert pl.read_parquet(one / CAPTIONS).equals(frame)
    for row in frame.iter_rows(named=True):
        info = probe_image(one / row["path"])
        assert (info.width, info.height) == (64, 128)
        assert not _missing(row["caption"], {f: row[f] for f in FIELDS})
    assert sorted(p.relative_to(one).as_posix() for p in one.rglob("*.jpg")) == sorted(frame["path"])
    train = set(frame.filter(pl.col("split") == "train")["identity"])
    test = set(frame.filter(pl.col("split") == "test")["identity"])
    assert len(train) == 4 and len(test) == 2 and not train & test
    assert json.loads((one / MARKER).read_text())["config"]["identities"] == 6

    generate_captioned(two, TINY, workers=2)
    assert _hashes(one) == _hashes(two)
    generate_captioned(one, TINY, workers=1)  # replaces its own earlier output
    assert _hashes(one) == _hashes(two)
    other = generate_captioned(two, TINY.model_copy(update={"seed": 4}), 1)
    assert other["caption"].to_list() != frame["caption"].to_list()


def test_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=MARKER):
        generate_captioned(tmp_path, TINY, workers=1)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_pool_disjoint_from_reid_domains() -> None:
    assert WEB_CODE not in DOMAIN_CODES.values()
    pool = web_pool(0, 1000)  # the seed and size of a full pool
    assert len({tuple(describe(i).values()) for i in pool}) == len(pool)  # a full caption names one identity
    config = section("synth", test_ids=50, queries_per_id=[1, 2])
    domain = {shot.identity for key in DOMAIN_STYLES for shot in plan_domain(key, config)}
    assert not set(pool) & domain


@pytest.mark.parametrize(("field", "value"), [
    ("seed", -1), ("identities", 0), ("images_per_id", 0), ("test_identities", 6), ("test_identities", -1),
    ("height", 32), ("width", 16), ("identities", 2.5),
])
def test_bad_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        section("pretrain.data", **{"identities": 6, "test_identities": 2, field: value})
