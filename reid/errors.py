"""Errors a user can fix: each is reported as one line and a non-zero exit, never as a traceback.

Everything else that escapes a stage is a bug and keeps its traceback.  The message of a
`ReidError` says what is wrong, where (parameter, file and line, artifact) and how to fix it.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any


class ReidError(Exception):
    """A problem with the inputs, not the code: the stage prints its message and exits with status 2."""


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


_NOT_ALLOWED = (errno.EACCES, errno.EPERM, errno.EROFS)  # a read-only store or output folder: the user's to fix


def user_failure(exc: BaseException) -> tuple[str, int] | None:
    """(one-line message, exit status) for an error the user can fix; None for a bug (keep its traceback).

    A `ReidError` exits with status 2; a full disk, which no input change fixes, with status 1.
    """
    if isinstance(exc, ReidError):
        return " ".join(str(exc).split()), 2
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = exc.filename or "a file"
        return f"no space left on device writing {where}: free space there and re-run (everything written before is kept)", 1
    if isinstance(exc, OSError) and exc.errno in _NOT_ALLOWED and exc.filename:
        return (f"{exc.filename}: {exc.strerror.lower()}; make it (or its folder) writable, or point the "
                f"stage's output elsewhere (everything written before is kept)"), 2
    return None
