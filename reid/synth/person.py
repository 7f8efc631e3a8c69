"""Drawing one pedestrian (and occluders) with OpenCV primitives.

Geometry is written in *figure units*: x relative to the body's centre line, y from the
top of the head, both as fractions of the figure height F. That keeps proportions
independent of the crop size. Every shape is tagged with the part it belongs to, so the
ground-truth part boxes are the extents of what was actually drawn.

Views: front, back (a backpack shows in full, a logo does not, a split shirt mirrors) and
side (one arm and scissoring legs). The walking phase in [-1, 1] drives leg spread and
arm swing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from reid.synth.identities import RGB, Identity, Wardrobe, random_identity

VIEWS = ("front", "back", "side")
PARTS = ("head", "upper", "legs")

SHOULDER, WAIST, SIDE = 0.14, 0.118, 0.08  # torso half-widths (figure units): front, side depth

_SHIFT = 2  # cv2 fixed-point bits: sub-pixel accurate shapes
_ONE = 1 << _SHIFT

Box = tuple[float, float, float, float]
Point = tuple[float, float]


@dataclass(frozen=True)
class Pose:
    """How one image shows a person: view, walking phase and placement in the crop."""

    view: str  # one of VIEWS
    facing: int  # +1 facing image right, -1 facing left (side view); mirrors details
    phase: float  # walking phase in [-1, 1]
    scale: float  # figure height / crop height
    dx: float  # centre offset, fraction of crop width
    dy: float  # vertical offset, fraction of crop height


def sample_pose(
    rng: np.random.Generator, view_probs: tuple[float, float, float], scale: tuple[float, float] = (0.84, 0.96),
    shift: float = 0.08,
) -> Pose:
    """A random pose; `view_probs` is the camera's bias (a corridor camera sees mostly backs)."""
    return Pose(
        view=VIEWS[int(rng.choice(3, p=view_probs))],
        facing=1 if rng.random() < 0.5 else -1,
        phase=float(rng.uniform(-1.0, 1.0)),
        scale=float(rng.uniform(*scale)),
        dx=float(np.clip(rng.normal(0.0, shift / 2), -shift, shift)),
        dy=float(rng.uniform(-0.03, 0.03)),
    )


def _shade(colour: RGB, factor: float) -> RGB:
    return tuple(int(min(255, round(c * factor))) for c in colour)  # type: ignore[return-value]


class _Painter:
    """Draws in figure units on an RGB canvas and records each part's extent in pixels."""

    def __init__(self, canvas: np.ndarray, cx: float, top: float, fig: float) -> None:
        self.canvas, self.cx, self.top, self.fig = canvas, cx, top, fig
        self.extent: dict[str, list[float]] = {}

    def xy(self, fx: float, fy: float) -> tuple[float, float]:
        return self.cx + fx * self.fig, self.top + fy * self.fig

    def _fixed(self, pts: list[tuple[float, float]]) -> np.ndarray:
        px = np.array([self.xy(x, y) for x, y in pts], dtype=np.float64)
        return np.round(px * _ONE).astype(np.int32)

    def _grow(self, part: str | None, px: np.ndarray) -> None:
        if part is None:
            return
        x0, y0 = px.min(axis=0) / _ONE
        x1, y1 = px.max(axis=0) / _ONE
        box = self.extent.setdefault(part, [x0, y0, x1, y1])
        box[0], box[1] = min(box[0], x0), min(box[1], y0)
        box[2], box[3] = max(box[2], x1), max(box[3], y1)

    def poly(self, pts: list[tuple[float, float]], colour: RGB, part: str | None) -> None:
        px = self._fixed(pts)
        cv2.fillPoly(self.canvas, [px], colour, cv2.LINE_AA, _SHIFT)
        self._grow(part, px)

    def rect(self, x0: float, y0: float, x1: float, y1: float, colour: RGB, part: str | None) -> None:
        self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], colour, part)

    def ellipse(
        self, cx: float, cy: float, ax: float, ay: float, colour: RGB, part: str | None,
        start: int = 0, end: int = 360,
    ) -> None:
        (px, py), f = self.xy(cx, cy), self.fig
        centre = (round(px * _ONE), round(py * _ONE))
        axes = (max(1, round(ax * f * _ONE)), max(1, round(ay * f * _ONE)))
        cv2.ellipse(self.canvas, centre, axes, 0, start, end, colour, -1, cv2.LINE_AA, _SHIFT)
        t = np.deg2rad(np.linspace(start, end, 25))
        self._grow(part, self._fixed(list(zip(cx + ax * np.cos(t), cy + ay * np.sin(t), strict=True))))

    def limb(self, a: Point, b: Point, w0: float, w1: float, colour: RGB,
             part: str | None) -> None:
        """A tapered quadrilateral from `a` (half-width w0) to `b` (half-width w1)."""
        self.poly(_limb_quad(a, b, w0, w1), colour, part)

    def mask(self, pts: list[tuple[float, float]]) -> np.ndarray:
        m = np.zeros(self.canvas.shape[:2], np.uint8)
        cv2.fillPoly(m, [self._fixed(pts)], 255, cv2.LINE_8, _SHIFT)
        return m > 0

    def band(self, region: np.ndarray, fy0: float, fy1: float, colour: RGB, fx0: float = -9, fx1: float = 9) -> None:
        """Recolour the pixels of `region` inside a figure-unit window (patterns on the shirt)."""
        h, w = region.shape
        x0, y0 = self.xy(fx0, fy0)
        x1, y1 = self.xy(fx1, fy1)
        rows = slice(min(h, max(0, int(y0))), min(h, max(0, math.ceil(y1))))
        cols = slice(min(w, max(0, int(x0))), min(w, max(0, math.ceil(x1))))
        self.canvas[rows, cols][region[rows, cols]] = colour


def _limb_quad(a: Point, b: Point, w0: float, w1: float) -> list[Point]:
    (ax, ay), (bx, by) = a, b
    length = math.hypot(bx - ax, by - ay) or 1.0
    nx, ny = -(by - ay) / length, (bx - ax) / length
    return [(ax + nx * w0, ay + ny * w0), (bx + nx * w1, by + ny * w1),
            (bx - nx * w1, by - ny * w1), (ax - nx * w0, ay - ny * w0)]


def _lerp(p: Point, q: Point, t: float) -> Point:
    return (p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t)


def _leg(p: _Painter, ident: Identity, hip: Point, ankle: Point, shade: float) -> None:
    """One leg: trousers, or skin with shorts on top (the skirt is drawn over both legs later)."""
    quad = _limb_quad(hip, ankle, 0.058, 0.034)
    skin, legs = _shade(ident.skin, shade), _shade(ident.legs, shade)
    if ident.legwear == "trousers":
        p.poly(quad, legs, "legs")
        return
    p.poly(quad, skin, "legs")
    if ident.legwear == "shorts":
        t = 0.38
        p.poly([quad[0], _lerp(quad[0], quad[1], t), _lerp(quad[3], quad[2], t), quad[3]], legs, "legs")


def _shoe(p: _Painter, ident: Identity, ankle: Point, forward: float, shade: float) -> None:
    p.ellipse(ankle[0] + forward * 0.022, ankle[1] + 0.018, 0.03 + 0.016 * abs(forward), 0.019,
              _shade(ident.shoes, shade), "legs")


def _arm(p: _Painter, ident: Identity, shoulder: Point, wrist: Point, shade: float) -> None:
    shirt, skin = _shade(ident.shirt, shade), _shade(ident.skin, shade)
    if ident.long_sleeves:
        p.limb(shoulder, wrist, 0.034, 0.026, shirt, "upper")
    else:
        p.limb(shoulder, wrist, 0.023, 0.018, skin, "upper")
        p.limb(shoulder, _lerp(shoulder, wrist, 0.4), 0.032, 0.027, shirt, "upper")
    p.ellipse(wrist[0], wrist[1] + 0.008, 0.019, 0.022, skin, "upper")


def _torso(p: _Painter, ident: Identity, view: str, facing: int) -> None:
    """Shirt with its pattern; what a pattern shows depends on the view."""
    b = ident.build
    sw, ww = (SIDE * b, SIDE * b) if view == "side" else (SHOULDER * b, WAIST * b)
    pts = [(-sw, 0.18), (-sw + 0.025, 0.165), (sw - 0.025, 0.165), (sw, 0.18), (ww, 0.51), (-ww, 0.51)]
    p.poly(pts, ident.shirt, "upper")
    region = p.mask(pts)
    if ident.pattern == "stripes":
        for k in range(6):
            y0 = 0.2 + 0.055 * k
            p.band(region, y0, y0 + 0.024, ident.accent)
    elif ident.pattern == "split":
        # the person's right half is the accent colour: image-left from the front, image-right
        # from the back, all or nothing from the side
        if view == "front":
            p.band(region, 0.0, 1.0, ident.accent, fx1=0.0)
        elif view == "back":
            p.band(region, 0.0, 1.0, ident.accent, fx0=0.0)
        elif facing < 0:
            p.band(region, 0.0, 1.0, ident.accent)
    elif ident.pattern == "logo" and view == "front":
        p.rect(-0.045, 0.23, 0.04, 0.3, ident.accent, "upper")


def _head(p: _Painter, ident: Identity, view: str, facing: int) -> None:
    d = facing
    if view == "front":
        p.ellipse(0.0, 0.085, 0.052, 0.068, ident.skin, "head")
        p.ellipse(0.0, 0.078, 0.057, 0.064, ident.hair, "head", 180, 360)
    elif view == "back":
        p.ellipse(0.0, 0.083, 0.056, 0.071, ident.hair, "head")
    else:
        p.ellipse(-d * 0.008, 0.082, 0.054, 0.067, ident.hair, "head")
        p.ellipse(d * 0.012, 0.095, 0.043, 0.056, ident.skin, "head")
        p.ellipse(-d * 0.004, 0.078, 0.055, 0.06, ident.hair, "head", 180, 360)
    if ident.hat is not None:
        p.ellipse(0.0, 0.06, 0.061, 0.048, ident.hat, "head", 180, 360)
        if view == "side":
            p.rect(min(0.0, d * 0.09), 0.052, max(0.0, d * 0.09), 0.064, ident.hat, "head")
        else:
            p.rect(-0.064, 0.052, 0.064, 0.064, _shade(ident.hat, 0.8), "head")


def _long_hair(p: _Painter, ident: Identity, view: str, facing: int) -> None:
    """Hair below the head: behind the shoulders from the front, over the back from behind."""
    if view == "front":
        p.rect(-0.064, 0.07, 0.064, 0.215, _shade(ident.hair, 0.9), None)
    elif view == "back":
        p.rect(-0.052, 0.1, 0.052, 0.26, ident.hair, "upper")
    else:
        x0, x1 = sorted((-facing * 0.058, -facing * 0.005))
        p.rect(x0, 0.08, x1, 0.23, ident.hair, None)


def _bag(p: _Painter, ident: Identity, view: str, facing: int, behind: bool) -> None:
    """Shoulder bag or backpack; `behind` selects the layer drawn before the torso."""
    col, b = ident.bag_colour, ident.build
    if ident.bag == "backpack":
        if view == "side" and behind:
            x0, x1 = sorted((-facing * (SIDE - 0.01) * b, -facing * (SIDE + 0.075) * b))
            p.rect(x0, 0.19, x1, 0.44, col, "upper")
        elif view == "back" and not behind:
            p.rect(-0.085 * b, 0.19, 0.085 * b, 0.43, col, "upper")
            p.rect(-0.055 * b, 0.34, 0.055 * b, 0.415, _shade(col, 0.75), "upper")
        elif view == "front" and not behind:
            for s in (-1, 1):
                p.limb((s * 0.07 * b, 0.168), (s * 0.075 * b, 0.36), 0.01, 0.01, col, "upper")
        return
    if ident.bag == "shoulder" and not behind:
        s = 1 if view == "front" else -1  # hangs on the person's left
        if view == "side":
            p.limb((0.0, 0.17), (facing * 0.01, 0.4), 0.007, 0.007, col, "upper")
            p.rect(-0.045, 0.4, 0.05, 0.52, col, "upper")
            return
        p.limb((-s * (SHOULDER - 0.03) * b, 0.17), (s * (WAIST + 0.025) * b, 0.41), 0.008, 0.008, col, "upper")
        x0, x1 = sorted((s * (WAIST + 0.005) * b, s * (WAIST + 0.085) * b))
        p.rect(x0, 0.4, x1, 0.52, col, "upper")


def draw_person(canvas: np.ndarray, ident: Identity, pose: Pose) -> dict[str, Box]:
    """Draw `ident` in `pose` on `canvas` (RGB uint8, modified in place).

    Returns the part boxes {head, upper, legs} as (x0, y0, x1, y1) pixel extents of what was
    drawn for each part, clipped to the canvas (x1/y1 exclusive).
    """
    h, w = canvas.shape[:2]
    fig = pose.scale * h
    p = _Painter(canvas, w / 2 + pose.dx * w, (h - fig) / 2 + pose.dy * h, fig)
    view, d, ph, b = pose.view, pose.facing, pose.phase, ident.build

    if ident.long_hair and view != "back":
        _long_hair(p, ident, view, d)
    _bag(p, ident, view, d, behind=True)
    if view == "side":
        swing = 0.45 * ph
        hip = (0.0, 0.5)
        far_ankle = (d * 0.44 * math.sin(-swing), 0.5 + 0.44 * math.cos(swing))
        near_ankle = (d * 0.44 * math.sin(swing), 0.5 + 0.44 * math.cos(swing))
        _arm(p, ident, (0.0, 0.19), (d * 0.3 * math.sin(swing), 0.19 + 0.3 * math.cos(swing)), 0.75)
        _leg(p, ident, hip, far_ankle, 0.8)
        _shoe(p, ident, far_ankle, d, 0.8)
        _leg(p, ident, hip, near_ankle, 1.0)
        _shoe(p, ident, near_ankle, d, 1.0)
    else:
        for s in (-1, 1):
            lift = 0.03 * max(0.0, s * ph)
            ankle = (s * (0.058 + 0.01 * abs(ph)), 0.935 - lift)
            _leg(p, ident, (s * 0.058 * b, 0.49), ankle, 1.0)
            _shoe(p, ident, ankle, 0.0, 1.0)
    if ident.legwear == "skirt":
        ww = (SIDE if view == "side" else WAIST) * b
        p.poly([(-ww, 0.48), (ww, 0.48), (ww + 0.05, 0.72), (-ww - 0.05, 0.72)], ident.legs, "legs")
    p.rect(-0.022, 0.13, 0.022, 0.185, _shade(ident.skin, 0.9), None)  # neck
    _torso(p, ident, view, d)
    if ident.long_hair and view == "back":
        _long_hair(p, ident, view, d)
    _bag(p, ident, view, d, behind=False)
    if view == "side":
        swing = 0.45 * ph
        _arm(p, ident, (0.0, 0.19), (-d * 0.3 * math.sin(swing), 0.19 + 0.3 * math.cos(swing)), 1.0)
    else:
        for s in (-1, 1):
            sx = s * (SHOULDER * b - 0.02)
            reach = 0.3 - 0.04 * max(0.0, -s * ph)
            _arm(p, ident, (sx, 0.19), (sx + s * 0.025, 0.19 + reach), 1.0)
    _head(p, ident, view, d)
    return {part: _clip(p.extent[part], w, h) for part in PARTS}


def _clip(box: list[float], w: int, h: int) -> Box:
    x0, y0, x1, y1 = box
    return (max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1))


def draw_occluder(canvas: np.ndarray, rng: np.random.Generator, wardrobe: Wardrobe) -> None:
    """Partial occlusion: an object in front of the legs, or a passer-by at one side."""
    h, w = canvas.shape[:2]
    if rng.random() < 0.5:
        top = int(h * rng.uniform(0.66, 0.82))
        x0 = int(w * rng.uniform(-0.3, 0.5))
        x1 = x0 + int(w * rng.uniform(0.45, 0.8))
        colour = tuple(int(c) for c in rng.integers(40, 160, 3))
        cv2.rectangle(canvas, (x0, top), (x1, h), colour, -1)
        cv2.rectangle(canvas, (x0, top), (x1, top + max(2, h // 40)), _shade(colour, 0.6), -1)
        return
    passer = random_identity(rng, wardrobe)
    side = 1 if rng.random() < 0.5 else -1
    pose = Pose(VIEWS[int(rng.integers(3))], -side, float(rng.uniform(-1, 1)), float(rng.uniform(0.9, 1.05)),
                side * float(rng.uniform(0.5, 0.65)), float(rng.uniform(0.0, 0.06)))
    draw_person(canvas, passer, pose)

