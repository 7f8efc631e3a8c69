"""A real CPU expert: MediaPipe Pose keypoints → head / upper-body / legs boxes.

MediaPipe 0.10.14 ships the "full" pose landmark model inside the wheel (newer releases
download models at run time, which offline machines cannot). Landmark indices follow
MediaPipe's 33-point BlazePose topology. All geometry is done in pixels, since landmark x
and y are normalised by different image sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from reid.errors import ConfigError
from reid.grounding.answer_format import format_boxes
from reid.grounding.config import Pose
from reid.grounding.experts.base import GroundItem
from reid.grounding.parts import PARTS, Box, PartResult, clip_box

FACE = list(range(0, 11))  # nose, eyes, ears, mouth
EARS, EYES_OUTER, SHOULDERS, HIPS = (7, 8), (3, 6), (11, 12), (23, 24)
ARMS = list(range(11, 23))  # shoulders, elbows, wrists, hand points
LEGS = list(range(23, 33))  # hips, knees, ankles, heels, toes
KNEES_ANKLES = list(range(25, 29))
HEAD_OF_BODY = 0.11  # head size floor as a fraction of the visible body height (adults: ~1/7.5)


class PoseExpert:
    name = "pose"
    needs_pixels = True

    def __init__(self, config: Pose) -> None:
        try:
            import mediapipe as mp
        except ImportError:
            raise ConfigError("grounding.expert", "pose", "needs MediaPipe 0.10.14, which is not installed",
                              fix="pip install --no-deps mediapipe==0.10.14 && pip install absl-py 'flatbuffers>=2.0' "
                              "'protobuf>=4.25.3,<5', or choose stripes or oracle") from None
        self.config = config
        self.version = f"mediapipe-{mp.__version__}-full"
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=True, model_complexity=1, min_detection_confidence=config.min_detection_confidence
        )

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "visibility": self.config.visibility,
                "min_detection_confidence": self.config.min_detection_confidence, "pad": self.config.pad}

    def ground(self, items: Sequence[GroundItem]) -> list[dict[str, PartResult]]:
        return [self._ground_one(item.rgb) for item in items]

    def _ground_one(self, rgb: np.ndarray) -> dict[str, PartResult]:
        found = self._pose.process(rgb).pose_landmarks
        if found is None:
            return {p: PartResult("no_box", [], "", "no person detected") for p in PARTS}
        h, w = rgb.shape[:2]
        lm = found.landmark
        xy = np.array([[p.x * w, p.y * h] for p in lm])  # [33, 2] pixels
        vis = np.array([p.visibility for p in lm]) > self.config.visibility
        boxes = keypoint_boxes(xy, vis, self.config.pad)
        out = {}
        for part, box in boxes.items():
            norm = clip_box((box[0] / w, box[1] / h, box[2] / w, box[3] / h)) if box is not None else None
            if norm is None:
                out[part] = PartResult("no_box", [], "", f"too few visible keypoints for the {part}")
            else:
                out[part] = PartResult("ok", [norm], format_boxes([norm]))
        return out


def _extent(xy: np.ndarray, vis: np.ndarray, idx: list[int]) -> np.ndarray | None:
    pts = xy[[i for i in idx if vis[i]]]
    return pts if len(pts) else None


def keypoint_boxes(xy: np.ndarray, vis: np.ndarray, pad: float) -> dict[str, Box | None]:
    """Pixel boxes per part from 33 keypoints `xy` [33, 2] and their visibility `vis` [33].

    - head: centred on the visible face points; its size is the widest of the ear span,
      1.6 × the outer-eye span, 0.45 × the shoulder span (whichever is visible) and
      HEAD_OF_BODY × the visible body height, as a turned head hides one ear and shrinks
      the eye and shoulder spans (side and back views); needs 2 face points.
    - upper: shoulders, arms, hands and hips; from just above the shoulders to the hips;
      needs a shoulder and a hip (or both shoulders).
    - legs: hips down to the feet; needs a hip and a knee or ankle.
    Margins are `pad` × the visible body height, so they scale with the person.
    """
    body = xy[vis]
    height = float(body[:, 1].max() - body[:, 1].min()) if len(body) else 0.0
    m = pad * height
    out: dict[str, Box | None] = dict.fromkeys(PARTS)

    face = _extent(xy, vis, FACE)
    if face is not None and len(face) >= 2:
        spans = []
        if vis[EARS[0]] and vis[EARS[1]]:
            spans.append(abs(xy[EARS[0], 0] - xy[EARS[1], 0]))
        if vis[EYES_OUTER[0]] and vis[EYES_OUTER[1]]:
            spans.append(1.6 * abs(xy[EYES_OUTER[0], 0] - xy[EYES_OUTER[1], 0]))
        if vis[SHOULDERS[0]] and vis[SHOULDERS[1]]:
            spans.append(0.45 * abs(xy[SHOULDERS[0], 0] - xy[SHOULDERS[1], 0]))
        size = max(spans + [float(np.ptp(face[:, 0])), float(np.ptp(face[:, 1])) * 1.5, HEAD_OF_BODY * height])
        if size > 0:
            cx, cy = face.mean(axis=0)
            out["head"] = (cx - 0.6 * size, cy - 0.8 * size, cx + 0.6 * size, cy + 0.6 * size)

    shoulders, hips = _extent(xy, vis, list(SHOULDERS)), _extent(xy, vis, list(HIPS))
    if shoulders is not None and (hips is not None or len(shoulders) == 2):
        arms = _extent(xy, vis, ARMS + list(HIPS))
        top = shoulders[:, 1].min() - m
        bottom = hips[:, 1].max() if hips is not None else arms[:, 1].max()
        out["upper"] = (arms[:, 0].min() - m, top, arms[:, 0].max() + m, bottom + m / 2)

    lower = _extent(xy, vis, KNEES_ANKLES)
    if hips is not None and lower is not None:
        legs = _extent(xy, vis, LEGS)
        out["legs"] = (legs[:, 0].min() - m, hips[:, 1].min(), legs[:, 0].max() + m, legs[:, 1].max() + m)
    return out
