"""Whole-file writes under a full disk, with torch's real writer (which hides the OSError behind a RuntimeError)."""

from __future__ import annotations

import errno
import io
import re
import sys
from pathlib import Path

import pytest
import torch
import yaml

import reid.utils.files as files
from reid.errors import DiskFullError, user_failure
from stages.common import main

REPO = Path(__file__).resolve().parents[2]


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
    with pytest.raises(DiskFullError) as caught:
        files.atomic_save({"w": torch.ones(10_000)}, path)
    assert re.fullmatch(rf"no space left on device writing {path} \(needs about 40.0 kB, [\d.]+ [kMG]?B free on "
                        rf"{tmp_path}\); the previous {path} is left as it was; free space there and re-run",
                        str(caught.value))
    assert user_failure(caught.value) == (str(caught.value), 1)  # an environment failure: status 1, not 2
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]


def test_a_full_disk_outside_atomic_write_is_one_line_with_status_1(tmp_path, monkeypatch, capsys):
    """torch's bare RuntimeError with the OSError as its context, and a writer that only says so in words."""
    def torch_like(*_):
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "checkpoints/stage2/last.pt")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")  # noqa: B904

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["synth"])
    monkeypatch.setattr("reid.synth.generate.generate_benchmark", torch_like)
    with pytest.raises(SystemExit) as exit_:
        main("synth")
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and len(err.strip().splitlines()) == 1
    assert re.fullmatch(r"error in stage synth: no space left on device writing checkpoints/stage2/last.pt "
                        rf"\([\d.]+ [kMG]?B free on {tmp_path}\); everything written before is kept; free space "
                        r"there and re-run", err.strip())
    assert user_failure(RuntimeError("IO error: No space left on device (os error 28)")) == (
        "no space left on device writing a file; everything written before is kept; free space there and re-run", 1)


def test_a_failure_that_is_not_a_full_disk_keeps_its_traceback(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        files.atomic_write(tmp_path / "x", lambda fh: (_ for _ in ()).throw(RuntimeError("boom")))
    assert list(tmp_path.iterdir()) == []
