"""Whole-file writes: a reader sees the previous file or the new one, never half of either."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

from reid.errors import NOT_ALLOWED, DiskFullError, InputError, disk_full


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object], needed: int | None = None) -> Path:
    """`write(file)` into `path`.tmp, fsync, then `os.replace` onto `path`: the old file stays whole until the new one is.

    The writer gets a Python file object, so a failed write keeps its errno (torch's writer then
    raises a bare RuntimeError with that OSError as its context). On any failure the temporary
    file is removed; a full disk (ENOSPC, EDQUOT) is a `DiskFullError` (status 1) naming the path,
    the space free there and `needed`, the file's expected size, when the caller knows it.
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
        full = disk_full(exc)
        if full is not None:
            kept = f"the previous {path} is left as it was" if path.exists() else f"{path} was not written"
            raise DiskFullError(path, full[0], kept, needed) from exc
        raise
    return path


def tensor_bytes(obj: Any) -> int:
    """Bytes of the tensors in `obj` (nested in dicts, lists, tuples): about what `torch.save` writes."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.untyped_storage().nbytes()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """`torch.save` `obj` to `path` through `atomic_write`: a kill or a full disk leaves the previous file whole."""
    import torch  # here, so that the data stages importing this module do not load torch

    return atomic_write(path, lambda fh: torch.save(obj, fh), needed=tensor_bytes(obj))


def reason_of(exc: BaseException, limit: int = 160) -> str:
    """A one-line account of why a file could not be read: the exception's type and first sentence."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text.split(". ")[0]
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check_writable(folders: Iterable[str | os.PathLike], what: str, elsewhere: str) -> None:
    """Create (and drop) a scratch file in each folder, or in its nearest existing parent (nothing is left
    behind), so that a read-only output fails before the expensive work: an `InputError` naming `what`
    (the output) and the folder, with the fix `elsewhere`."""
    for folder in map(Path, folders):
        folder = next(p for p in (folder, *folder.absolute().parents) if p.is_dir())
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            if exc.errno not in NOT_ALLOWED:
                raise
            raise InputError(f"{what} {folder} is not writable ({exc.strerror.lower()}); make it writable, or "
                             f"{elsewhere}") from None


def check_writable_tree(root: str | os.PathLike, what: str, elsewhere: str) -> None:
    """`check_writable` of `root` and of every folder under it (an append-only store writes into each)."""
    root = Path(root)
    check_writable([root, *sorted(p for p in root.rglob("*") if p.is_dir())], what, elsewhere)
