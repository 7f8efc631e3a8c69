"""Whole-file writes under a full disk, with torch's real writer (which hides the OSError behind a RuntimeError)."""

from __future__ import annotations

import errno
import io

import pytest
import torch

import reid.utils.files as files
from reid.errors import ReidError


class FillingFile(io.FileIO):
    """A real file on which the disk fills up after `room` bytes."""

    room = 100

    def write(self, data):  # type: ignore[override]
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_torch_save_on_a_full_disk_is_the_one_line_message_and_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "state.pt"
    files.atomic_save({"w": torch.zeros(2)}, path)
    before = path.read_bytes()
    monkeypatch.setattr(files, "open", lambda name, mode: FillingFile(name, mode.replace("b", "")), raising=False)
    with pytest.raises(ReidError, match=rf"^no space left on device while writing {path}; the previous {path} is left"):
        files.atomic_save({"w": torch.ones(10_000)}, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]


def test_a_failure_that_is_not_a_full_disk_keeps_its_traceback(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        files.atomic_write(tmp_path / "x", lambda fh: (_ for _ in ()).throw(RuntimeError("boom")))
    assert list(tmp_path.iterdir()) == []
