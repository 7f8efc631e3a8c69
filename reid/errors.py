"""Errors a user can fix: each is reported as one line and a non-zero exit, never as a traceback.

Everything else that escapes a stage is a bug and keeps its traceback.  The message of a
`ReidError` says what is wrong, where (parameter, file and line, artifact) and how to fix it.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class ReidError(Exception):
    """A problem with the inputs, not the code: the stage prints its message and exits with `status` 2."""

    status = 2


class ConfigError(ReidError, ValueError):
    """A parameter has a value the pipeline cannot use (`value` = ... when the key is missing)."""

    def __init__(self, key: str, value: Any, problem: str, fix: str = "", allowed: Iterable[Any] | None = None):
        self.key, self.value = key, value
        parts = [f"{key}: {problem}" if value is ... else f"{key} = {value!r}: {problem}"]
        if allowed is not None:
            parts.append(f"allowed: {', '.join(str(a) for a in allowed)}")
        if fix:
            parts.append(fix)
        super().__init__("; ".join(parts))


class InputError(ReidError, ValueError):
    """A data file (dataset folder, listing, image) cannot be used as it is."""


class ArtifactError(ReidError, FileNotFoundError):
    """An upstream artifact is missing or unreadable: the message names the stage that makes it."""

    def __init__(self, path: Any, stage: str, problem: str = "is missing"):
        self.path, self.stage = path, stage
        super().__init__(f"{path} {problem}: it is made by stage '{stage}'; re-run it with `dvc repro {stage}`")


@contextmanager
def building(key: str) -> Iterator[None]:
    """Turn the library's ValueError for a section's values into a ConfigError naming the section."""
    try:
        yield
    except ReidError:
        raise
    except ValueError as exc:
        raise ConfigError(key, ..., str(exc)) from None


class DiskFullError(ReidError):
    """The disk (or the quota) filled while writing `path`: no input change fixes it, so status 1."""

    status = 1

    def __init__(self, path: str | os.PathLike | None, code: int = errno.ENOSPC,
                 kept: str = "everything written before is kept", needed: int | None = None):
        self.path = path
        space = [f"needs about {_size(needed)}"] if needed else []
        folder = next((p for p in Path(path).absolute().parents if p.is_dir()), None) if path else None
        if folder is not None:
            space.append(f"{_size(shutil.disk_usage(folder).free)} free on {folder}")
        where = f" ({', '.join(space)})" if space else ""
        super().__init__(f"{_DISK_FULL[code]} writing {path or 'a file'}{where}; {kept}; free space there and re-run")


_DISK_FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}
_DISK_FULL_TEXT = {"no space left on device": errno.ENOSPC, "disk quota exceeded": errno.EDQUOT}  # errno-less writers
NOT_ALLOWED = (errno.EACCES, errno.EPERM, errno.EROFS)  # a read-only store or output folder: the user's to fix


def _size(n: int) -> str:
    """Bytes for people: 512 B, 3.4 MB, 1.2 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def disk_full(exc: BaseException | None) -> tuple[int, str | None] | None:
    """(errno, file name or None) of the full disk behind `exc`, if any. torch's writer raises a bare
    RuntimeError ("enforce fail at inline_container.cc") with the file's OSError as its context;
    writers without an errno (polars, torch's own file writer) say "No space left on device"."""
    for _ in range(8):  # a chain, never a cycle in practice; bounded all the same
        if exc is None:
            return None
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            return exc.errno, exc.filename
        code = next((c for text, c in _DISK_FULL_TEXT.items() if text in str(exc).lower()), None)
        if code is not None:
            return code, None
        exc = exc.__cause__ or exc.__context__
    return None


def user_failure(exc: BaseException) -> tuple[str, int] | None:
    """(one-line message, exit status) for an error the user can fix; None for a bug (keep its traceback).

    A `ReidError` exits with its status (2; a full disk, which no input change fixes, 1).
    """
    full = disk_full(exc) if not isinstance(exc, ReidError) else None
    if full is not None:
        exc = DiskFullError(full[1], full[0])
    if isinstance(exc, ReidError):
        return " ".join(str(exc).split()), exc.status
    if isinstance(exc, OSError) and exc.errno in NOT_ALLOWED and exc.filename:
        return (f"{exc.filename}: {exc.strerror.lower()}; make it (or its folder) writable, or point the "
                f"stage's output elsewhere (everything written before is kept)"), 2
    return None
