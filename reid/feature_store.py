"""Features of image files in one parquet file (`path`, `feature`), built resumably.

`embed_files` writes each batch as it is computed to `<out>.parts/part-NNNNNN.parquet`
(temporary file, then rename), so a killed run loses at most the batch in flight; a rerun
keeps every row already in `out` or in a part and computes only the missing paths, then
writes `out` (rows in the order asked) and removes the parts. Every file records the digest
of the model that made it: rows of another model are refused, never mixed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reid.errors import InputError
from reid.inference import Encoder
from reid.utils.files import atomic_write
from reid.utils.images import IMAGE_SUFFIXES, ImageError, probe_image

MODEL_KEY = b"reid.model_sha256"
LOCK = ".lock"  # in the parts folder: one writer per output at a time


def model_digest(path: str | os.PathLike) -> str:
    """SHA-256 of the checkpoint file: which model a feature file belongs to."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def image_files(inputs: Sequence[str | os.PathLike]) -> list[str]:
    """Absolute paths of the images given: files as they are, folders searched recursively (sorted).

    A missing path, a file that is not a readable image or no image at all is an `InputError`.
    """
    found: list[str] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise InputError(f"{item}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        elif item.is_file():
            files = [item]
        else:
            raise InputError(f"{item}: no such file or folder")
        for path in files:
            try:
                probe_image(path)
            except ImageError as exc:
                raise InputError(f"{path}: not an image ({exc})") from None
        found += [str(p.resolve()) for p in files]
    if not found:
        raise InputError("no images given")
    return found


def write_features(path: Path, paths: Sequence[str], features: np.ndarray, model: str) -> None:
    """Write rows (path, feature) with the model's digest, atomically."""
    flat = pa.array(np.ascontiguousarray(features, np.float32).reshape(-1))
    table = pa.table({"path": pa.array(list(paths), pa.string()),
                      "feature": pa.FixedSizeListArray.from_arrays(flat, features.shape[1])})
    table = table.replace_schema_metadata({MODEL_KEY: model.encode()})
    atomic_write(path, lambda fh: pq.write_table(table, fh))


def read_features(path: str | os.PathLike, model: str | None = None) -> tuple[list[str], np.ndarray]:
    """(paths, features [N, D] float32) of a feature file; `model`: the digest it must carry."""
    try:
        table = pq.read_table(path)
        made_by = (table.schema.metadata or {}).get(MODEL_KEY, b"").decode()
        column = table.column("feature").combine_chunks()
        features = column.values.to_numpy(zero_copy_only=False).reshape(len(table), column.type.list_size)
    except (OSError, KeyError, pa.ArrowException) as exc:
        raise InputError(f"{path}: not a feature file written by `reid embed` ({type(exc).__name__})") from None
    if model is not None and made_by != model:
        raise InputError(f"{path} holds features of another model (sha256 {made_by[:12] or 'unknown'}, this one "
                         f"{model[:12]}); use its model, or another --out")
    return table.column("path").to_pylist(), features.astype(np.float32, copy=False)


def embed_files(encoder: Encoder, model: str, paths: Sequence[str], out: str | os.PathLike, batch_size: int = 64,
                workers: int = 0) -> int:
    """Features of `paths` into `out`, resuming from `out` and its parts; returns how many were computed.

    A second run into the same `out` while one is going is refused: both would compute every image."""
    out = Path(out)
    parts = out.with_name(out.name + ".parts")
    with writer_lock(parts, out):
        return _embed(encoder, model, paths, out, parts, batch_size, workers)


@contextmanager
def writer_lock(parts: Path, out: Path) -> Iterator[None]:
    """Hold an exclusive lock on `parts`/.lock (removed with the parts when the run completes)."""
    parts.mkdir(parents=True, exist_ok=True)
    with open(parts / LOCK, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{out} is being written by another reid embed (it holds {parts / LOCK}); wait for "
                             f"it to finish, then rerun (its rows are kept), or choose another --out") from None
        yield


def _embed(encoder: Encoder, model: str, paths: Sequence[str], out: Path, parts: Path, batch_size: int,
           workers: int) -> int:
    written = sorted(parts.glob("part-*.parquet"))
    done: dict[str, np.ndarray] = {}
    for source in ([out] if out.is_file() else []) + written:
        names, features = read_features(source, model)
        done.update(zip(names, features))
    todo = [p for p in dict.fromkeys(paths) if p not in done]
    if done:
        print(f"resuming: {len(paths) - len(todo)} of {len(paths)} images already embedded")
    for n, (index, batch) in enumerate(encoder.batches(todo, batch_size, workers), len(written)):
        names = [todo[i] for i in index]
        write_features(parts / f"part-{n:06d}.parquet", names, batch.features.numpy(), model)
        done.update(zip(names, batch.features.numpy()))
    write_features(out, paths, np.stack([done[p] for p in paths]), model)
    shutil.rmtree(parts, ignore_errors=True)
    return len(todo)
