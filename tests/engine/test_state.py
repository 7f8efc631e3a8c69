"""Training states and checkpoints under faults: an unreadable state is set aside, a full disk
keeps the previous file whole, a missing or unreadable upstream artifact names its stage."""

from __future__ import annotations

import errno

import pytest
import torch

import reid.engine.state as state_module
from reid.engine.state import STATE_FILE, load_state, save_state
from reid.errors import ArtifactError, ConfigError, DiskFullError, ReidError
from reid.model.checkpoint import load_checkpoint, save_checkpoint
from reid.model.muva import build_muva
from tests.kit.params import tiny_config

PAYLOAD = {"fingerprint": "abc", "epoch": 1, "step": 2, "history": [{"epoch": 0}], "model": {"w": torch.ones(3)}}


def _damage(kind: str, data: bytes) -> bytes:
    return {"truncated": data[: len(data) // 2], "garbage": b"\x00\xffnot a state" * 50, "empty": b"",
            "foreign": None}[kind]


@pytest.mark.parametrize("kind", ["truncated", "garbage", "empty", "foreign"])
def test_an_unreadable_state_is_named_set_aside_and_started_over(tmp_path, capsys, kind):
    path = save_state(tmp_path, PAYLOAD)
    if kind == "foreign":
        torch.save({"something": "else"}, path)  # loads, but is no training state
    else:
        path.write_bytes(_damage(kind, path.read_bytes()))
    damaged = path.read_bytes()
    assert load_state(tmp_path, "abc") is None
    out = capsys.readouterr().out
    assert f"warning: training state {path} is unreadable (" in out and "starting over" in out
    aside = list(tmp_path.glob(f"{STATE_FILE}.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == damaged and aside[0].name in out
    assert not path.exists()
    assert load_state(tmp_path, "abc") is None and capsys.readouterr().out == ""  # nothing left to warn about
    save_state(tmp_path, PAYLOAD)  # the next epoch writes a fresh state, which resumes
    assert load_state(tmp_path, "abc")["epoch"] == 1


def test_two_corrupt_states_in_the_same_second_are_both_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(state_module.time, "strftime", lambda fmt: "20250101T000000")
    for _ in range(2):
        (tmp_path / STATE_FILE).write_bytes(b"garbage")
        assert load_state(tmp_path, "abc") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "last.pt.corrupt-20250101T000000", "last.pt.corrupt-20250101T000000-1"]


def _disk_full_after(nbytes: int):
    """A torch.save that writes `nbytes` of the file, then fails as a full disk does."""
    def save(obj, f, *args, **kwargs):
        f.write(b"\x00" * nbytes)
        raise OSError(errno.ENOSPC, "No space left on device")
    return save


def test_a_full_disk_keeps_the_previous_state_and_says_so(tmp_path, monkeypatch):
    path = save_state(tmp_path, PAYLOAD)
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", _disk_full_after(100))
    with pytest.raises(DiskFullError, match=rf"^no space left on device writing {path} \(needs about [\d.]+ kB, "
                                            rf"[\d.]+ [kMG]?B free on {tmp_path}\); the previous {path} is left as "
                                            rf"it was; free space there and re-run$"):
        save_state(tmp_path, {**PAYLOAD, "epoch": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE]
    assert load_state(tmp_path, "abc")["epoch"] == 1


def test_a_full_disk_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    model = build_muva(tiny_config(4))
    path = tmp_path / "model.pt"
    save_checkpoint(model, path, extra={"epoch": 1})
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", _disk_full_after(10))
    with pytest.raises(DiskFullError, match=rf"no space left on device writing {path} \(.*\); the previous"):
        save_checkpoint(model, path, extra={"epoch": 2})
    with pytest.raises(DiskFullError, match=rf"no space left on device writing {tmp_path / 'new.pt'} \(.*\); "
                                            rf"{tmp_path / 'new.pt'} was not written"):
        save_checkpoint(model, tmp_path / "new.pt")
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    assert load_checkpoint(path)[1] == {"epoch": 1}


def test_a_full_disk_while_writing_the_prior_keeps_the_previous_one(tmp_path, monkeypatch):
    import open_clip

    from reid.pretrain.train import save_open_clip
    from tests.kit.clip import TINY_CLIP

    clip = open_clip.CLIP(**TINY_CLIP)
    path = tmp_path / "clip.pt"
    save_open_clip(clip, TINY_CLIP, path)
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", _disk_full_after(10))
    with pytest.raises(DiskFullError, match=f"no space left on device writing {path}"):
        save_open_clip(clip, TINY_CLIP, path)
    monkeypatch.undo()
    assert path.read_bytes() == before and not (tmp_path / "clip.pt.tmp").exists()


def test_other_write_errors_keep_their_type_and_leave_no_temporary_file(tmp_path, monkeypatch):
    path = save_state(tmp_path, PAYLOAD)
    def denied(obj, f, *args, **kwargs):
        f.write(b"x")
        raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(torch, "save", denied)
    with pytest.raises(OSError, match="Input/output error") as caught:
        save_state(tmp_path, PAYLOAD)
    assert not isinstance(caught.value, ReidError)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_the_prior_missing_or_unreadable_says_to_rerun_pretrain(tmp_path, monkeypatch):
    import reid.training.stage1 as stage1
    from reid.training.stage1 import check_pretrained

    ours = tmp_path / "models" / "pretrain" / "clip.pt"
    monkeypatch.setattr(stage1, "PRETRAIN_CHECKPOINT", str(ours))
    with pytest.raises(ArtifactError, match=rf"^{ours} is missing: it is made by stage 'pretrain'; re-run it with "
                                            rf"`dvc repro pretrain`$"):
        check_pretrained(str(ours))
    ours.parent.mkdir(parents=True)
    torch.save({"state_dict": {"w": torch.ones(64)}}, ours)
    check_pretrained(str(ours))
    ours.write_bytes(ours.read_bytes()[:200])
    with pytest.raises(ArtifactError, match=rf"^{ours} is unreadable \(RuntimeError: .+\): .*dvc repro pretrain`$"):
        check_pretrained(str(ours))
    with pytest.raises(ConfigError, match=r"model.pretrained = '.*elsewhere.pt': no such file"):
        check_pretrained(str(tmp_path / "elsewhere.pt"))
    for fine in (None, "openai", "laion2b_s34b_b88k"):
        check_pretrained(fine)
