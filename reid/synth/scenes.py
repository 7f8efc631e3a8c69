"""Backgrounds: one fixed scene per camera, from which every crop takes a window.

A real camera watches one place, so its crops share the background; that makes the
background a camera cue (and, through the scene type, a domain cue) that a Re-ID model
must learn to ignore. Each scene is a panorama three crops wide, drawn once per worker
and cached; a crop takes a random window and adds a little per-image clutter.

Scene kinds: `campus` (summer: light facades, trees, pale pavement), `winter` (brick or
stone, bare trees, dark asphalt, snow), `plaza` (glass facades, lawns, red paving),
`hall` (indoor: warm walls, doors, glossy floor), `corridor` (indoor: pale walls, pillars,
plain floor, little texture).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np


def _colour(rng: np.random.Generator, options: list[tuple[int, int, int]], jitter: int = 10) -> tuple[int, ...]:
    base = np.array(options[int(rng.integers(len(options)))])
    return tuple(int(c) for c in np.clip(base + rng.integers(-jitter, jitter + 1, 3), 0, 255))


def _ground(img: np.ndarray, horizon: int, colour: tuple[int, ...], rng: np.random.Generator,
            line: tuple[int, ...] | None, tile: int) -> None:
    h, w = img.shape[:2]
    img[horizon:] = colour
    ramp = np.linspace(0.9, 1.08, h - horizon, dtype=np.float32)[:, None, None]
    img[horizon:] = np.clip(img[horizon:] * ramp, 0, 255).astype(np.uint8)
    if line is not None:
        for y in range(horizon + tile // 2, h, tile):
            cv2.line(img, (0, y), (w, y), line, 1)
        for x in range(int(rng.integers(tile)), w, tile * 2):
            cv2.line(img, (x, horizon), (x, h), line, 1)


def _campus(img: np.ndarray, rng: np.random.Generator) -> None:
    h, w = img.shape[:2]
    horizon = int(h * rng.uniform(0.38, 0.52))
    img[:horizon] = _colour(rng, [(214, 206, 190), (196, 192, 184), (222, 214, 196)])
    for x in range(int(rng.integers(20)), w, int(rng.integers(28, 44))):
        for y in range(int(h * 0.04), horizon - 12, int(rng.integers(24, 34))):
            cv2.rectangle(img, (x, y), (x + 14, y + 16), _colour(rng, [(120, 140, 160)], 12), -1)
    for _ in range(int(rng.integers(2, 5))):
        c = (int(rng.integers(w)), int(rng.uniform(0.15, 0.45) * h))
        cv2.ellipse(img, c, (int(rng.integers(20, 40)), int(rng.integers(26, 50))), 0, 0, 360,
                    _colour(rng, [(70, 130, 60), (90, 150, 70)], 14), -1)
    _ground(img, horizon, _colour(rng, [(184, 182, 174), (198, 190, 170)]), rng, (160, 158, 150), 22)
    if rng.random() < 0.5:
        y = horizon + int(rng.integers(4, 20))
        img[y:y + int(rng.integers(6, 14))] = _colour(rng, [(96, 150, 80)])


def _winter(img: np.ndarray, rng: np.random.Generator) -> None:
    h, w = img.shape[:2]
    horizon = int(h * rng.uniform(0.42, 0.56))
    brick = rng.random() < 0.5
    img[:horizon] = _colour(rng, [(128, 72, 60), (118, 64, 56)] if brick else [(112, 112, 118), (96, 98, 104)])
    mortar = (150, 140, 132) if brick else (80, 80, 86)
    for y in range(0, horizon, 10 if brick else 24):
        cv2.line(img, (0, y), (w, y), mortar, 1)
    for _ in range(int(rng.integers(2, 5))):
        x = int(rng.integers(w))
        cv2.line(img, (x, horizon), (x + int(rng.integers(-6, 7)), int(h * 0.05)), (42, 36, 32), 4)
        for _ in range(3):
            y = int(rng.uniform(0.1, 0.35) * h)
            cv2.line(img, (x, y), (x + int(rng.integers(-24, 25)), y - int(rng.integers(8, 20))), (50, 44, 40), 2)
    _ground(img, horizon, _colour(rng, [(78, 78, 84), (92, 90, 92)]), rng, None, 0)
    for _ in range(int(rng.integers(1, 5))):
        c = (int(rng.integers(w)), int(rng.integers(horizon, h)))
        cv2.ellipse(img, c, (int(rng.integers(10, 40)), int(rng.integers(3, 9))), 0, 0, 360, (226, 228, 234), -1)


def _plaza(img: np.ndarray, rng: np.random.Generator) -> None:
    h, w = img.shape[:2]
    horizon = int(h * rng.uniform(0.3, 0.5))
    img[:horizon] = _colour(rng, [(120, 150, 170), (140, 160, 176)])
    for x in range(int(rng.integers(30)), w, int(rng.integers(18, 30))):
        cv2.line(img, (x, 0), (x, horizon), (70, 84, 96), 2)
    _ground(img, horizon, _colour(rng, [(150, 84, 70), (170, 110, 90)]), rng, (120, 70, 60), 16)
    if rng.random() < 0.6:
        y0 = horizon + int(rng.integers(0, 12))
        img[y0:y0 + int(rng.integers(10, 30))] = _colour(rng, [(80, 140, 64)])


def _hall(img: np.ndarray, rng: np.random.Generator) -> None:
    h, w = img.shape[:2]
    horizon = int(h * rng.uniform(0.5, 0.62))
    img[:horizon] = _colour(rng, [(206, 186, 150), (190, 176, 150)])
    for x in range(int(rng.integers(40)), w, int(rng.integers(70, 110))):
        cv2.rectangle(img, (x, int(horizon * 0.25)), (x + 34, horizon), _colour(rng, [(120, 84, 56)], 12), -1)
    _ground(img, horizon, _colour(rng, [(168, 160, 150)]), rng, (190, 184, 176), 30)
    for x in range(int(rng.integers(60)), w, 90):
        cv2.ellipse(img, (x, horizon + 12), (20, 6), 0, 0, 360, (228, 222, 210), -1)


def _corridor(img: np.ndarray, rng: np.random.Generator) -> None:
    h, w = img.shape[:2]
    horizon = int(h * rng.uniform(0.55, 0.65))
    img[:horizon] = _colour(rng, [(196, 198, 194), (186, 192, 196)], 6)
    for x in range(int(rng.integers(50)), w, int(rng.integers(90, 130))):
        cv2.rectangle(img, (x, 0), (x + 18, horizon), _colour(rng, [(168, 170, 168)], 6), -1)
    _ground(img, horizon, _colour(rng, [(134, 140, 144), (146, 146, 140)], 6), rng, None, 0)


_SCENES = {"campus": _campus, "winter": _winter, "plaza": _plaza, "hall": _hall, "corridor": _corridor}
SCENE_KINDS = tuple(_SCENES)


_REFERENCE = (256, 128)  # the scenes' pixel sizes are written for this canvas (H, W)


@lru_cache(maxsize=64)
def scene_panorama(kind: str, seed: int, height: int, width: int) -> np.ndarray:
    """The camera's scene, `height`×3`width` plus 10% headroom; read-only (cached).

    Drawn at the reference canvas size and resized, so a scene looks the same at any crop size.
    """
    rng = np.random.default_rng(seed)
    ref_h, ref_w = _REFERENCE
    img = np.zeros((int(ref_h * 1.1), 3 * ref_w, 3), np.uint8)
    _SCENES[kind](img, rng)
    if (height, width) != _REFERENCE:
        img = cv2.resize(img, (3 * width, int(height * 1.1)), interpolation=cv2.INTER_AREA)
    img.setflags(write=False)
    return img


def background(kind: str, seed: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A fresh `height`×`width` RGB crop of the camera's scene with a few distant figures."""
    pano = scene_panorama(kind, seed, height, width)
    y = int(rng.integers(pano.shape[0] - height + 1))
    x = int(rng.integers(pano.shape[1] - width + 1))
    img = pano[y:y + height, x:x + width].copy()
    if rng.random() < 0.5:
        img = img[:, ::-1].copy()
    for _ in range(int(rng.integers(0, 3))):  # distant passers-by: small muted silhouettes
        cx, cy = int(rng.integers(width)), int(rng.uniform(0.3, 0.55) * height)
        size = int(rng.integers(height // 14, height // 7))
        tone = int(rng.integers(40, 150))
        colour = tuple(int(c) for c in np.clip(tone + rng.integers(-25, 26, 3), 0, 255))
        cv2.ellipse(img, (cx, cy), (max(2, size // 5), size // 2), 0, 0, 360, colour, -1, cv2.LINE_AA)
        cv2.circle(img, (cx, cy - size // 2 - max(2, size // 8)), max(2, size // 7), colour, -1, cv2.LINE_AA)
    return img
