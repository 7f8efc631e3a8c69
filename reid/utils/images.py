"""The one image loader (OpenCV) and the fast header probe used by ingestion.

Decoding every image of MSMT17 (126k files) would take minutes; ingestion only needs the
size, evidence that the file is a complete image, and a fingerprint of its bytes.  `probe_image`
reads the file once, the header with Pillow (lazy: no pixel decoding; OpenCV has no header-only
API), checks the format's end marker (what a truncated download loses) and hashes the bytes: the
digest goes into the manifest, so an image redrawn or replaced under the same name changes the
manifest and DVC re-runs every stage that read it.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

_JPEG_EOI = b"\xff\xd9"
_PNG_IEND = b"IEND"


class ImageError(ValueError):
    """An image file that cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    digest: str  # BLAKE2b-64 of the file's bytes, hex


def probe_image(path: str | os.PathLike) -> ImageInfo:
    """Return the size and content digest of `path` without decoding pixels; raise ImageError if unusable.

    Catches: missing or zero-byte files, unknown formats, and truncated JPEG/PNG files
    (missing end-of-image marker).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read: {exc.strerror}") from exc
    if not data:
        raise ImageError("zero-byte file")
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            fmt = img.format
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ImageError(f"not a readable image ({exc.__class__.__name__})") from exc
    if width <= 0 or height <= 0:
        raise ImageError(f"invalid size {width}x{height}")
    _check_trailer(data[-32:], fmt)
    return ImageInfo(width, height, hashlib.blake2b(data, digest_size=8).hexdigest())


def _check_trailer(tail: bytes, fmt: str | None) -> None:
    """Raise ImageError if a JPEG/PNG lacks its end marker (a truncated file)."""
    if fmt == "JPEG" and _JPEG_EOI not in tail:
        raise ImageError("truncated JPEG (no end-of-image marker)")
    if fmt == "PNG" and _PNG_IEND not in tail:
        raise ImageError("truncated PNG (no IEND chunk)")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode `path` to an RGB uint8 array [H, W, 3]; raise ImageError if it cannot be decoded."""
    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).exists() else None
    if data is None or data.size == 0:
        raise ImageError(f"{path}: missing or empty file")
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError(f"{path}: OpenCV cannot decode this file")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_image(path: str | os.PathLike, rgb: np.ndarray, jpeg_quality: int = 95) -> None:
    """Encode an RGB uint8 array to `path` (format from the suffix), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(path.suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ImageError(f"{path}: OpenCV cannot encode to {path.suffix}")
    path.write_bytes(buf.tobytes())
