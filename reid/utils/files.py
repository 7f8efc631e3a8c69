"""Whole-file writes: a reader sees the previous file or the new one, never half of either."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from reid.errors import ReidError

_DISK_FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """`write(file)` into `path`.tmp, fsync, then `os.replace` onto `path`: the old file stays whole until the new one is.

    The writer gets a Python file object, so a failed write keeps its errno (torch's writer then
    raises a bare RuntimeError with that OSError as its context). On any failure the temporary
    file is removed; a full disk (ENOSPC, EDQUOT) is a `ReidError` naming the path.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        full = _disk_full(exc)
        if full is not None:
            kept = f"the previous {path} is left as it was" if path.exists() else f"{path} was not written"
            raise ReidError(
                f"{_DISK_FULL[full.errno]} while writing {path}; {kept}. Free some space on "
                f"{path.parent.resolve()} and re-run the stage"
            ) from exc
        raise
    return path


def _disk_full(exc: BaseException | None) -> OSError | None:
    """The full-disk OSError behind `exc`: torch's writer raises a bare RuntimeError ("enforce fail at
    inline_container.cc") while the file's own OSError is left as its context."""
    for _ in range(8):  # a chain, never a cycle in practice; bounded all the same
        if exc is None:
            return None
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """`torch.save` `obj` to `path` through `atomic_write`: a kill or a full disk leaves the previous file whole."""
    import torch  # here, so that the data stages importing this module do not load torch

    return atomic_write(path, lambda fh: torch.save(obj, fh))


def reason_of(exc: BaseException, limit: int = 160) -> str:
    """A one-line account of why a file could not be read: the exception's type and first sentence."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text.split(". ")[0]
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check_writable(folder: str | os.PathLike) -> None:
    """Make `folder` and write a scratch file in it, so that a read-only output fails before the expensive work."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass
