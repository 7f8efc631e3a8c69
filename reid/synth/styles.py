"""Domain and camera styles: where the domain gap of the synthetic benchmark comes from.

Two levels, on purpose. A *domain* fixes the big things — the wardrobe (what people wear),
the scene type, the brightness / saturation / contrast regime, a colour cast, the optics
(blur, down-sampling), crop sizes and compression. Each *camera* then perturbs the domain's
regime a little (gain, cast, saturation, contrast; its own blur, noise, JPEG quality, view
bias and scene). Cameras inside a domain therefore differ less than domains do, which is
what a domain-generalisation benchmark needs.

The four domains are look-alikes of Market-1501 (summer campus, bright, 6 cameras),
DukeMTMC-reID (winter campus, dark clothes, bluish, 8 cameras), MSMT17 (15 cameras,
indoor and outdoor, strong time-of-day lighting) and CUHK03-NP (indoor, 2 cameras,
washed-out, low resolution, PNG).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from reid.synth.identities import Wardrobe

TIMES = ("morning", "noon", "afternoon")
# time of day: (gain, RGB cast) for outdoor cameras of domains with `time_of_day`
_TIME_LIGHT = {
    "morning": (0.8, (0.93, 1.0, 1.1)),
    "noon": (1.18, (1.0, 1.0, 0.98)),
    "afternoon": (0.95, (1.1, 1.0, 0.86)),
}


@dataclass(frozen=True)
class DomainStyle:
    """Everything a domain (dataset look-alike) fixes; cameras are drawn around it."""

    key: str
    n_cams: int
    wardrobe: Wardrobe
    scenes: tuple[str, ...]  # scene kinds its cameras draw from (see reid.synth.scenes)
    gain: float
    saturation: float
    contrast: float
    cast: tuple[float, float, float]
    blur: tuple[float, float]  # Gaussian sigma range (output pixels)
    lowres: tuple[float, float]  # down-sampling factor range (1 = none)
    noise: tuple[float, float]  # sensor noise sigma range (0..255 scale)
    jpeg: tuple[int, int]  # JPEG quality range (ignored for PNG)
    size: tuple[float, float]  # crop height / configured height, camera means drawn from it
    suffix: str = ".jpg"
    time_of_day: bool = False
    indoor_cams: int = 0  # the last `indoor_cams` cameras use scenes[-1] and ignore the time of day
    camera_jitter: float = 1.0  # scales the per-camera perturbations


@dataclass(frozen=True)
class CameraStyle:
    """One camera: a small, fixed perturbation of its domain's regime plus its own scene."""

    cam: int  # 1-based
    scene: str
    scene_seed: int
    indoor: bool
    gain: float
    cast: tuple[float, float, float]
    saturation: float
    contrast: float
    blur: float
    lowres: float
    noise: float
    jpeg_quality: int
    size: float
    view_probs: tuple[float, float, float]  # front, back, side


_SKIN_EAST_ASIAN = ((228, 192, 162), (208, 168, 134), (186, 146, 112))
_HAIR_DARK = ((20, 17, 17), (62, 42, 28), (112, 76, 46))  # black, dark brown, dyed brown: family members differ visibly
_SHOES = ((28, 28, 30), (235, 235, 235), (110, 78, 52), (120, 120, 125))

WARDROBES = {
    # Market-1501: summer campus, light and saturated clothes, shorts and skirts are common
    "MA": Wardrobe(
        clothes=((238, 238, 232), (30, 30, 34), (210, 40, 48), (40, 52, 130), (112, 168, 228), (128, 128, 134),
                 (236, 204, 58), (236, 140, 176), (58, 150, 72), (196, 176, 124)),
        skin=_SKIN_EAST_ASIAN, hair=_HAIR_DARK, shoes=_SHOES,
        bags=((30, 30, 34), (40, 52, 130), (150, 100, 60), (200, 60, 60)),
        long_sleeves=0.3, legwear=(0.55, 0.25, 0.2), bag=(0.45, 0.25, 0.3),
    ),
    # DukeMTMC-reID: winter, dark coats and jeans, long sleeves, more hats, varied skin
    "D": Wardrobe(
        clothes=((24, 24, 28), (62, 62, 68), (30, 38, 78), (84, 58, 42), (112, 30, 42), (86, 92, 52),
                 (124, 124, 130), (186, 170, 140), (30, 72, 52), (44, 74, 160)),
        skin=((236, 202, 176), (204, 158, 122), (146, 100, 70), (98, 68, 48)),
        hair=((22, 18, 18), (70, 48, 30), (128, 88, 52), (200, 170, 104)), shoes=_SHOES,
        bags=((24, 24, 28), (84, 58, 42), (62, 62, 68), (140, 30, 40)),
        long_sleeves=0.92, legwear=(0.86, 0.02, 0.12), bag=(0.35, 0.2, 0.45), hat=0.3, long_hair=0.3,
    ),
    # MSMT17: spring/winter on a campus with indoor halls; brighter accent colours
    "MS": Wardrobe(
        clothes=((236, 236, 236), (26, 26, 30), (120, 120, 126), (36, 48, 96), (180, 32, 44), (226, 126, 42),
                 (40, 134, 134), (112, 62, 144), (240, 182, 194), (72, 104, 154)),
        skin=_SKIN_EAST_ASIAN, hair=_HAIR_DARK, shoes=_SHOES,
        bags=((26, 26, 30), (36, 48, 96), (120, 120, 126), (226, 126, 42)),
        long_sleeves=0.75, legwear=(0.76, 0.08, 0.16), bag=(0.4, 0.3, 0.3),
    ),
    # CUHK03: indoor campus, pastel and plain colours
    "C3": Wardrobe(
        clothes=((236, 236, 230), (30, 30, 34), (170, 170, 170), (52, 92, 172), (172, 52, 52), (190, 174, 140),
                 (172, 152, 204), (152, 204, 172), (122, 82, 52), (32, 42, 82)),
        skin=_SKIN_EAST_ASIAN, hair=_HAIR_DARK, shoes=_SHOES,
        bags=((30, 30, 34), (122, 82, 52), (52, 92, 172), (170, 170, 170)),
        long_sleeves=0.4, legwear=(0.66, 0.19, 0.15), bag=(0.5, 0.3, 0.2), hat=0.05,
    ),
}

DOMAIN_STYLES: dict[str, DomainStyle] = {
    "MA": DomainStyle(
        key="MA", n_cams=6, wardrobe=WARDROBES["MA"], scenes=("campus",),
        gain=1.08, saturation=1.1, contrast=1.0, cast=(1.02, 1.0, 0.95),
        blur=(0.3, 0.7), lowres=(1.0, 1.0), noise=(1.5, 3.5), jpeg=(88, 95), size=(1.0, 1.0),
    ),
    "D": DomainStyle(
        key="D", n_cams=8, wardrobe=WARDROBES["D"], scenes=("winter",),
        gain=0.8, saturation=0.78, contrast=1.08, cast=(0.93, 0.98, 1.1),
        blur=(0.4, 0.9), lowres=(0.8, 1.0), noise=(2.0, 4.0), jpeg=(80, 92), size=(1.05, 1.5),
    ),
    "MS": DomainStyle(
        key="MS", n_cams=15, wardrobe=WARDROBES["MS"], scenes=("plaza", "hall"),
        gain=1.0, saturation=0.92, contrast=1.12, cast=(1.0, 1.0, 1.0),
        blur=(0.4, 1.0), lowres=(0.65, 1.0), noise=(2.5, 5.0), jpeg=(70, 90), size=(0.8, 1.6),
        time_of_day=True, indoor_cams=3,
    ),
    "C3": DomainStyle(
        key="C3", n_cams=2, wardrobe=WARDROBES["C3"], scenes=("corridor",),
        gain=0.96, saturation=0.6, contrast=0.82, cast=(0.96, 1.05, 1.0),
        blur=(0.8, 1.2), lowres=(0.5, 0.65), noise=(3.0, 5.0), jpeg=(95, 95), size=(1.0, 1.3), suffix=".png",
    ),
}


def camera_styles(style: DomainStyle, rng: np.random.Generator) -> list[CameraStyle]:
    """The domain's cameras: its regime, each perturbed by a small fixed camera offset."""
    j = style.camera_jitter
    cams = []
    for cam in range(1, style.n_cams + 1):
        indoor = cam > style.n_cams - style.indoor_cams
        side = float(rng.uniform(0.15, 0.4))
        front = float(rng.uniform(0.15, 0.85)) * (1 - side)
        cast = tuple(float(c * math.exp(rng.normal(0, 0.03 * j))) for c in style.cast)
        cams.append(CameraStyle(
            cam=cam,
            scene=style.scenes[-1] if indoor else style.scenes[0],
            scene_seed=int(rng.integers(2**31)),
            indoor=indoor,
            gain=float(style.gain * math.exp(rng.normal(0, 0.07 * j))),
            cast=cast,  # type: ignore[arg-type]
            saturation=float(style.saturation * math.exp(rng.normal(0, 0.06 * j))),
            contrast=float(style.contrast * math.exp(rng.normal(0, 0.04 * j))),
            blur=float(rng.uniform(*style.blur)),
            lowres=float(rng.uniform(*style.lowres)),
            noise=float(rng.uniform(*style.noise)),
            jpeg_quality=int(rng.integers(style.jpeg[0], style.jpeg[1] + 1)),
            size=float(rng.uniform(*style.size)),
            view_probs=(front, 1 - side - front, side),
        ))
    return cams


def output_size(style: DomainStyle, cam: CameraStyle, rng: np.random.Generator, height: int,
                width: int) -> tuple[int, int]:
    """(h, w) of a saved crop: the configured size where the domain fixes it (Market resizes
    every crop to 128×64), else the camera's typical size with per-image jitter (detector
    boxes vary in size and aspect)."""
    if style.size == (1.0, 1.0):
        return height, width
    s = cam.size * math.exp(rng.normal(0, 0.08))
    aspect = math.exp(rng.normal(0, 0.08))
    return max(32, round(height * s)), max(16, round(width * s * aspect))


def _light_ramp(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Uneven light across the crop (sun from one side, shade): a linear brightness ramp [h, w]
    in a random direction, up to ±20%, so the same clothes never look exactly the same."""
    angle, amp = rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 0.2)
    ys = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    xs = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    return (np.float32(2 * amp * np.cos(angle)) * xs + np.float32(2 * amp * np.sin(angle)) * ys) + np.float32(1)


def apply_camera(img: np.ndarray, cam: CameraStyle, style: DomainStyle, rng: np.random.Generator,
                 time: str) -> np.ndarray:
    """Photometric camera model on an RGB uint8 crop: optics, illumination, colour, noise."""
    h, w = img.shape[:2]
    x = img.astype(np.float32) / 255.0
    if cam.lowres < 0.999:
        small = cv2.resize(x, (max(8, round(w * cam.lowres)), max(16, round(h * cam.lowres))),
                           interpolation=cv2.INTER_AREA)
        x = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    x = cv2.GaussianBlur(x, (0, 0), cam.blur)
    gain, cast = cam.gain * math.exp(rng.normal(0, 0.06)), np.array(cam.cast, np.float32)
    if style.time_of_day and not cam.indoor:
        t_gain, t_cast = _TIME_LIGHT[time]
        gain, cast = gain * t_gain, cast * np.array(t_cast, np.float32)
    x = x * (np.float32(gain) * _light_ramp(h, w, rng))[..., None] * cast
    grey = x.mean(axis=2, keepdims=True)
    x = grey + np.float32(cam.saturation) * (x - grey)
    mean = np.float32(x.mean())
    x = mean + np.float32(cam.contrast) * (x - mean)
    x = x + rng.normal(0.0, cam.noise / 255.0, x.shape).astype(np.float32)
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
