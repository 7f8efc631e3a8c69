"""Rendering one planned image: scene, person, occluder, crop size, camera model.

Drawing happens on a canvas twice the configured size and is reduced with area
averaging, which anti-aliases the flat shapes the way a real lens and sensor would.
"""

from __future__ import annotations

import cv2
import numpy as np

from reid.synth.identities import Wardrobe, random_identity
from reid.synth.person import VIEWS, Box, Pose, draw_occluder, draw_person, sample_pose
from reid.synth.plan import Shot
from reid.synth.scenes import background
from reid.synth.styles import DOMAIN_STYLES, apply_camera, output_size

SUPERSAMPLE = 2
OCCLUSION_RATE = 0.15


def _junk(canvas: np.ndarray, rng: np.random.Generator, wardrobe: Wardrobe) -> None:
    """A bad detection, like Market's junk: bare background, a body fragment or a tiny figure."""
    r = rng.random()
    if r < 0.3:
        return
    if r < 0.75:
        scale, dx, dy = rng.uniform(1.6, 2.4), rng.uniform(-0.35, 0.35), rng.uniform(-0.6, 0.3)
    else:
        scale, dx, dy = rng.uniform(0.3, 0.5), rng.uniform(-0.25, 0.25), rng.uniform(0.0, 0.25)
    pose = Pose(VIEWS[int(rng.integers(3))], 1, float(rng.uniform(-1, 1)), float(scale), float(dx), float(dy))
    draw_person(canvas, random_identity(rng, wardrobe), pose)


def render_shot(shot: Shot, seed: int, height: int, width: int) -> tuple[np.ndarray, dict[str, Box] | None]:
    """The RGB uint8 crop of `shot` and its part boxes in crop pixels (None for junk).

    Depends only on (shot, seed, size), never on what was rendered before.
    """
    rng = shot.rng(seed)
    style, cam = DOMAIN_STYLES[shot.domain], shot.camera
    ch, cw = height * SUPERSAMPLE, width * SUPERSAMPLE
    canvas = background(cam.scene, cam.scene_seed, ch, cw, rng)
    boxes = None
    if shot.identity is None:
        _junk(canvas, rng, style.wardrobe)
    else:
        if shot.kind == "distractor":  # Market's distractors are sloppy crops
            pose = sample_pose(rng, cam.view_probs, scale=(0.7, 1.05), shift=0.15)
        else:
            pose = sample_pose(rng, cam.view_probs)
        boxes = draw_person(canvas, shot.identity, pose)
        if rng.random() < OCCLUSION_RATE:
            draw_occluder(canvas, rng, style.wardrobe)
    out_h, out_w = output_size(style, cam, rng, height, width)
    img = cv2.resize(canvas, (out_w, out_h), interpolation=cv2.INTER_AREA)
    img = apply_camera(img, cam, style, rng, shot.time)
    if boxes is not None:
        sx, sy = out_w / cw, out_h / ch
        boxes = {part: (x0 * sx, y0 * sy, x1 * sx, y1 * sy) for part, (x0, y0, x1, y1) in boxes.items()}
    return img, boxes
