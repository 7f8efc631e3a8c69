"""Resumable training state: one atomically replaced file per stage, written after every epoch.

The state holds everything the next epoch depends on (weights, optimiser, memories, epoch
and step counters, RNG states, the logged history) and a fingerprint of the inputs, the
parameters and the code: a state made otherwise is never resumed, it is started over.

A state that cannot be read (cut short by a copy, garbage bytes) never blocks a run: it is
set aside as `last.pt.corrupt-<time>` next to where it was, a warning names it, and the stage
starts over. Writing goes through `reid.utils.files.atomic_save` (a full disk is a
one-line error and the previous state stays whole).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import reid
from reid.utils.files import atomic_save, reason_of

CODE_ROOT = Path(reid.__file__).parent  # the library whose code made the state
STATE_FILE = "last.pt"
STATE_FORMAT = 3  # bump when the saved payload changes: older states are then started over, never misread
CORRUPT_SUFFIX = ".corrupt-"  # last.pt.corrupt-20250101T120000: an unreadable state, set aside
_REQUIRED = ("fingerprint", "epoch", "history", "rng")  # keys every saved state has


def fingerprint(config: Any, *tensors: torch.Tensor, files: tuple[str | Path, ...] = ()) -> str:
    """Digest of a JSON-able config, tensors, files and the library's code: equal digests = resumable.

    The code counts because DVC re-runs a stage when its code changes: resuming a state made by
    the old code (even a finished one) would hand back the old result.
    """
    digest = hashlib.sha256(json.dumps([STATE_FORMAT, config], sort_keys=True, default=str).encode())
    files = (*sorted(CODE_ROOT.rglob("*.py")), *files)
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for path in files:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(state_dir: str | Path, payload: dict[str, Any]) -> Path:
    """Write `payload` (+ RNG states) to state_dir/last.pt via a temporary file: a kill never leaves half a state.

    A full disk raises a `ReidError` saying so, with the previous state left as it was.
    """
    return atomic_save({**payload, "rng": rng_state()}, Path(state_dir) / STATE_FILE)


def load_state(state_dir: str | Path, expected: str) -> dict[str, Any] | None:
    """The saved state if it exists and was made with fingerprint `expected`, else None.

    An unreadable state is set aside (`set_aside`) with a warning, and None returned: start over.
    """
    path = Path(state_dir) / STATE_FILE
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(state, dict) or not all(key in state for key in _REQUIRED):
            raise ValueError(f"not a training state (expected a dict with {', '.join(_REQUIRED)})")
    except FileNotFoundError:
        return None  # another rank set it aside meanwhile: start over as it does
    except Exception as exc:  # noqa: BLE001 -- whatever the bytes are, they cannot be resumed from
        set_aside(path, reason_of(exc))
        return None
    if state.get("fingerprint") != expected:
        print(f"{path}: made with other inputs, parameters or code; starting over")
        return None
    restore_rng(state["rng"])
    return state


def set_aside(path: Path, reason: str) -> Path | None:
    """Rename an unreadable state to `<name>.corrupt-<time>` (kept for a look, never read again) and say so."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = path.with_name(f"{path.name}{CORRUPT_SUFFIX}{stamp}")
    n = 1
    while aside.exists():
        aside, n = path.with_name(f"{path.name}{CORRUPT_SUFFIX}{stamp}-{n}"), n + 1
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return None  # another rank was first
    print(f"warning: training state {path} is unreadable ({reason}); set aside as {aside.name}, starting over",
          flush=True)
    return aside

