"""Captioned synthetic people in a "web photo" style: pre-training data for the demo's CLIP.

OpenAI CLIP learnt from web photos that are unrelated to any Re-ID dataset, so the demo's
stand-in must too (SPEC §8): if its people or its look came from the four domains, the
vision-language prior would leak the benchmark. Hence, here:

- a pool of its own: colours jittered around the named palette of `captions` (each colour
  keeps its name, so a caption matches its pixels), broad skin and hair, broad garment odds,
  drawn from stream codes of its own (`WEB_CODE`), every attribute record (`describe`)
  distinct within the pool. A web shirt colour is never a wardrobe colour, and every domain
  identity wears one, so no web identity equals a domain identity;
- a style of its own: every image is its own photo (a camera drawn with wide jitter around a
  neutral `WEB_STYLE`) on a random background — a scene of any kind with a random seed,
  plain, gradient, blotchy noise or random shapes — with the figure at a random scale and
  position, sometimes occluded.

`generate_captioned` writes the images and `captions.parquet`; same seed → byte-identical
files whatever the worker count (per-image random streams, like the benchmark).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import polars as pl

from reid.synth.captions import (
    COLOURS,
    FIELDS,
    HAIR_COLOURS,
    caption,
    colour_name,
    describe,
    hair_colour_name,
)
from reid.synth.config import Captioned
from reid.synth.generate import render_parallel
from reid.synth.identities import BAGS, LEGWEAR, PATTERNS, RGB, Identity, Wardrobe
from reid.synth.person import draw_occluder, draw_person, sample_pose
from reid.synth.render import OCCLUSION_RATE, SUPERSAMPLE
from reid.synth.scenes import SCENE_KINDS, background
from reid.synth.styles import WARDROBES, DomainStyle, apply_camera, camera_styles
from reid.utils.images import write_image

MARKER = "CAPTIONED.json"
CAPTIONS = "captions.parquet"
GENERATOR = "reid.synth.captioned"
WEB_CODE = 50  # first random-stream code after the seed; the Re-ID domains use plan.DOMAIN_CODES (1..4)
_POOL, _IMAGE, _CAPTION = 1, 2, 3
BACKGROUNDS = (*SCENE_KINDS, "plain", "gradient", "noise", "shapes")
COLUMNS = {
    "path": pl.String, "caption": pl.String, "identity": pl.Int64, "image": pl.Int64, "split": pl.String,
    "view": pl.String, **dict.fromkeys(FIELDS, pl.String),
}

# Every colour a Re-ID domain's wardrobe holds: web colours avoid them (disjoint pools).
_DOMAIN_COLOURS = frozenset(
    rgb for w in WARDROBES.values() for group in (w.clothes, w.skin, w.hair, w.shoes, w.bags) for rgb in group
)
_SKIN_LIGHT, _SKIN_DARK = (245, 212, 188), (72, 48, 36)
_PALETTE = tuple(protos[0] for protos in COLOURS.values())

# The neutral regime around which every web photo draws its own camera (camera_jitter 3:
# gain ±21 %, colour cast ±9 % per channel, saturation ±18 %, contrast ±12 %, one sigma;
# wider casts would rename colours, and a caption must stay true of its photo).
WEB_STYLE = DomainStyle(
    key="WEB", n_cams=1,
    wardrobe=Wardrobe(  # the passers-by of occlusions
        clothes=_PALETTE, skin=(_SKIN_LIGHT, (190, 140, 105), _SKIN_DARK),
        hair=tuple(protos[0] for protos in HAIR_COLOURS.values()), shoes=_PALETTE, bags=_PALETTE,
        long_sleeves=0.5, legwear=(0.55, 0.2, 0.25), bag=(0.4, 0.3, 0.3),
    ),
    scenes=BACKGROUNDS, gain=1.0, saturation=1.0, contrast=1.0, cast=(1.0, 1.0, 1.0),
    blur=(0.2, 1.4), lowres=(0.5, 1.0), noise=(0.5, 6.0), jpeg=(60, 95), size=(1.0, 1.0), camera_jitter=3.0,
)


def _stream(seed: int, code: int, *index: int) -> np.random.Generator:
    return np.random.default_rng([seed, WEB_CODE, code, *index])


def _named_colour(rng: np.random.Generator, table: dict[str, tuple[RGB, ...]], namer: Callable[[RGB], str],
                  avoid: str = "") -> RGB:
    """A colour jittered around a prototype of a random name, redrawn until it still carries
    that name (so the caption is true of the pixels) and is no Re-ID wardrobe colour."""
    names = [name for name in table if name != avoid]
    while True:
        name = names[int(rng.integers(len(names)))]
        protos = table[name]
        base = np.array(protos[int(rng.integers(len(protos)))])
        rgb: RGB = tuple(int(c) for c in np.clip(np.rint(base + rng.normal(0, 16, 3)), 0, 255))  # type: ignore[assignment]
        if namer(rgb) == name and rgb not in _DOMAIN_COLOURS:
            return rgb


def _web_identity(rng: np.random.Generator) -> Identity:
    shirt = _named_colour(rng, COLOURS, colour_name)
    light, dark = np.array(_SKIN_LIGHT), np.array(_SKIN_DARK)
    skin = light + rng.random() * (dark - light) + rng.normal(0, 6, 3)  # anywhere from light to dark
    return Identity(
        skin=tuple(int(c) for c in np.clip(np.rint(skin), 0, 255)),  # type: ignore[arg-type]
        hair=_named_colour(rng, HAIR_COLOURS, hair_colour_name),
        long_hair=bool(rng.random() < 0.4),
        hat=_named_colour(rng, COLOURS, colour_name) if rng.random() < 0.25 else None,
        shirt=shirt,
        accent=_named_colour(rng, COLOURS, colour_name, avoid=colour_name(shirt)),
        pattern=PATTERNS[int(rng.choice(len(PATTERNS), p=(0.4, 0.2, 0.2, 0.2)))],
        long_sleeves=bool(rng.random() < 0.5),
        bag=BAGS[int(rng.choice(len(BAGS), p=WEB_STYLE.wardrobe.bag))],
        bag_colour=_named_colour(rng, COLOURS, colour_name),
        legwear=LEGWEAR[int(rng.choice(len(LEGWEAR), p=WEB_STYLE.wardrobe.legwear))],
        legs=_named_colour(rng, COLOURS, colour_name),
        shoes=_named_colour(rng, COLOURS, colour_name),
        build=float(np.round(rng.uniform(0.88, 1.12), 3)),
    )


def web_pool(seed: int, n: int) -> list[Identity]:
    """The `n` captioned identities of `seed`, each with an attribute record of its own, so
    a full caption names exactly one identity."""
    rng = _stream(seed, _POOL)
    seen: set[tuple[str, ...]] = set()
    out: list[Identity] = []
    while len(out) < n:
        ident = _web_identity(rng)
        record = tuple(describe(ident).values())
        if record not in seen:
            seen.add(record)
            out.append(ident)
    return out


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))  # type: ignore[return-value]


def _backdrop(kind: str, seed: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """An RGB uint8 `h`×`w` background of `kind` (one of BACKGROUNDS)."""
    if kind in SCENE_KINDS:
        return background(kind, seed, h, w, rng)
    if kind == "plain":
        return np.full((h, w, 3), _random_colour(rng), np.uint8)
    if kind == "gradient":
        a, b = np.array(_random_colour(rng), np.float32), np.array(_random_colour(rng), np.float32)
        angle = rng.uniform(0, 2 * math.pi)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        t = xs / w * math.cos(angle) + ys / h * math.sin(angle)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        return np.rint(a + t[..., None] * (b - a)).astype(np.uint8)
    if kind == "noise":  # blotches: a coarse random grid, smoothly enlarged
        gh, gw = int(rng.integers(3, 17)), int(rng.integers(2, 9))
        coarse = rng.integers(0, 256, (gh, gw, 3)).astype(np.float32)
        return np.clip(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)
    img = np.full((h, w, 3), _random_colour(rng), np.uint8)  # shapes
    for _ in range(int(rng.integers(4, 16))):
        colour, shape = _random_colour(rng), int(rng.integers(3))
        x0, x1 = sorted(int(x) for x in rng.integers(-w // 4, w, 2))
        y0, y1 = sorted(int(y) for y in rng.integers(-h // 4, h, 2))
        if shape == 0:
            cv2.rectangle(img, (x0, y0), (x1, y1), colour, -1)
        elif shape == 1:
            cv2.circle(img, (x0, y0), int(rng.integers(4, max(5, w // 2))), colour, -1, cv2.LINE_AA)
        else:
            cv2.line(img, (x0, y0), (x1, y1), colour, int(rng.integers(2, 10)), cv2.LINE_AA)
    return img


def render_web_photo(identity: Identity, rng: np.random.Generator, height: int,
                     width: int) -> tuple[np.ndarray, str, int]:
    """One web-style RGB uint8 photo of `identity`, the view it shows and its JPEG quality."""
    cam = camera_styles(WEB_STYLE, rng)[0]
    kind = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    cam = replace(cam, scene=kind)
    ch, cw = height * SUPERSAMPLE, width * SUPERSAMPLE
    canvas = _backdrop(kind, cam.scene_seed, ch, cw, rng)
    pose = sample_pose(rng, cam.view_probs, scale=(0.55, 0.98), shift=0.2)
    slack = (1.0 - pose.scale) / 2
    pose = replace(pose, dy=float(rng.uniform(-slack, slack)))
    draw_person(canvas, identity, pose)
    if rng.random() < OCCLUSION_RATE:
        draw_occluder(canvas, rng, WEB_STYLE.wardrobe)
    img = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
    return apply_camera(img, cam, WEB_STYLE, rng, "noon"), pose.view, cam.jpeg_quality


def _relpath(identity: int, image: int) -> str:
    return f"images/{identity:06d}_{image:02d}.jpg"


def _render_job(job: tuple[int, int, Identity, int, int, int, str]) -> tuple[str, str]:
    """Render and write one photo; returns (caption, view)."""
    seed, index, ident, image, height, width, out_dir = job
    img, view, quality = render_web_photo(ident, _stream(seed, _IMAGE, index, image), height, width)
    write_image(Path(out_dir) / _relpath(index, image), img, quality)
    return caption(ident, _stream(seed, _CAPTION, index, image), view), view


def _clear(out_dir: Path) -> None:
    """Remove earlier output; refuse to touch a non-empty folder this generator did not write."""
    if not out_dir.exists():
        return
    if (out_dir / MARKER).is_file():
        shutil.rmtree(out_dir)
    elif any(out_dir.iterdir()):
        raise FileExistsError(
            f"{out_dir} is not empty and has no {MARKER}: the captioned-data generator only replaces its own "
            f"output. Choose another output folder or empty this one."
        )


def generate_captioned(out_dir: Path, config: Captioned, workers: int = 2) -> pl.DataFrame:
    """Write the captioned photos under `out_dir` (replacing earlier output) and return the
    `captions.parquet` frame: path (posix, relative to `out_dir`), caption, identity (index in
    the pool), image, split (train / test by identity), view, and the attribute words (FIELDS)."""
    out_dir = Path(out_dir)
    _clear(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pool = web_pool(config.seed, config.identities)
    (out_dir / MARKER).write_text(json.dumps({  # first: an interrupted run is still recognised as ours
        "synthetic": True, "generator": GENERATOR, "config": config.model_dump(),
    }, indent=2) + "\n")
    jobs = [
        (config.seed, index, ident, image, config.height, config.width, str(out_dir))
        for index, ident in enumerate(pool)
        for image in range(config.images_per_id)
    ]
    results = render_parallel(_render_job, jobs, "captioned", workers)
    records = [describe(ident) for ident in pool]
    rows = [
        {"path": _relpath(index, image), "caption": text, "identity": index, "image": image,
         "split": config.split(index), "view": view, **records[index]}
        for (_, index, _, image, *_), (text, view) in zip(jobs, results, strict=True)
    ]
    frame = pl.DataFrame(rows, schema=COLUMNS)
    frame.write_parquet(out_dir / CAPTIONS)
    return frame
