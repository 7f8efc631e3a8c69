"""The one progress helper: tqdm with rate and ETA, quiet when asked."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_bar(items: Iterable[T], desc: str, total: int | None = None, unit: str = "img") -> tqdm:
    """A tqdm bar over `items` (count, rate, ETA); `set_postfix` on it shows running values.

    Set REID_NO_PROGRESS=1 to silence bars (tests, logs).
    """
    disable = os.environ.get("REID_NO_PROGRESS", "") not in ("", "0")
    return tqdm(items, desc=desc, total=total, unit=unit, disable=disable, dynamic_ncols=True, smoothing=0.1)


def progress(items: Iterable[T], desc: str, total: int | None = None, unit: str = "img") -> Iterator[T]:
    """Wrap `items` in a progress bar showing count, rate and ETA."""
    return iter(progress_bar(items, desc, total, unit))
