"""Reliability: kill -9 and resume, NaN guard, fingerprints, vision-only."""

import json

import pytest
import torch

import reid.training.stage2 as stage2_module
from reid.engine.distributed import Dist
from reid.engine.guards import TrainingDiverged
from reid.errors import ArtifactError
from reid.model.checkpoint import read_checkpoint
from reid.model.muva import build_muva
from reid.training.data import load_training_data
from reid.training.stage1 import TEXT_MEMORY_FILE, run_stage1
from reid.training.stage2 import run_stage2
from tests.kit.kill_child import kill_then_resume
from tests.training.helpers import write_training_set
from tests.kit.params import tiny_config, tiny_train_configs


@pytest.fixture(scope="module")
def trained_stage1(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    write_training_set(root)
    data = load_training_data(root / "train.parquet", root / "masks.parquet")
    train, stage1, _ = tiny_train_configs()
    record = run_stage1(data, tiny_config(data.num_classes), None, train, stage1,
                        root / "stage1", root / "s1state", root / "s1live", Dist())
    return root, data, record


def test_stage1_learns_prompts_and_writes_the_text_memory(trained_stage1):
    root, data, record = trained_stage1
    memory = torch.load(root / "stage1" / TEXT_MEMORY_FILE, weights_only=True)
    assert memory.shape == (data.num_classes, 4 * 16)
    assert record["epoch"] == 1 and 0.0 <= record["acc/text_to_memory"] <= 1.0
    torch.manual_seed(0)  # the run's seed: the same initial model, of which only the prompts may move
    initial = build_muva(tiny_config(data.num_classes))
    trained = read_checkpoint(root / "stage1" / "model.pt")["state_dict"]
    for name, value in initial.state_dict().items():
        assert torch.equal(value, trained[name]) != (name == "prompts.tokens"), name


def test_kill_9_then_resume_ends_with_the_weights_of_an_uninterrupted_run(trained_stage1):
    root, _, _ = trained_stage1
    whole, killed = kill_then_resume("stage2", root, timeout=120)
    a = read_checkpoint(whole / "muva.pt")["state_dict"]
    b = read_checkpoint(killed / "muva.pt")["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], v) for k, v in read_checkpoint(root / "stage1" / "model.pt")["state_dict"].items() if k in a)
    steps = json.loads((killed / "live" / "metrics.json").read_text())["step"]
    lines = (killed / "live" / "plots" / "metrics" / "loss" / "id.tsv").read_text().strip().splitlines()
    assert steps == 2 and len(lines) == 1 + 3  # header + one row per epoch, none repeated


def test_stage1_killed_then_resumed_ends_with_the_prompts_of_an_uninterrupted_run(trained_stage1):
    root, _, _ = trained_stage1
    whole, killed = kill_then_resume("stage1", root, timeout=120)
    a = read_checkpoint(whole / "stage1" / "model.pt")["state_dict"]
    b = read_checkpoint(killed / "stage1" / "model.pt")["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(torch.load(whole / "stage1" / TEXT_MEMORY_FILE), torch.load(killed / "stage1" / TEXT_MEMORY_FILE))
    assert json.loads((killed / "live" / "metrics.json").read_text())["step"] == 2  # 3 epochs, none repeated


def test_a_nan_loss_stops_with_the_last_good_checkpoint_kept(trained_stage1, monkeypatch):
    root, data, _ = trained_stage1
    train, _, stage2 = tiny_train_configs()
    calls = {"n": 0}
    real = stage2_module.id_loss

    def poisoned(*args):
        calls["n"] += 1
        loss = real(*args)
        return loss * float("nan") if calls["n"] > 3 else loss  # the tiny set has 2 steps per epoch

    monkeypatch.setattr(stage2_module, "id_loss", poisoned)
    state = root / "nan" / "state"
    with pytest.raises(TrainingDiverged, match=r"epoch 2 step 4: loss id is NaN.*last good checkpoint .*after epoch 1"):
        run_stage2(data, root / "stage1", train, stage2, root / "nan" / "muva.pt", state, root / "nan" / "live", Dist())
    kept = torch.load(state / "last.pt", weights_only=False)
    assert kept["epoch"] == 1 and all(torch.isfinite(v).all() for v in kept["model"].values() if v.is_floating_point())
    assert not (root / "nan" / "muva.pt").exists()


def test_a_state_from_other_parameters_is_not_resumed(trained_stage1, capsys):
    root, data, _ = trained_stage1
    train, _, stage2 = tiny_train_configs(epochs=1)
    run_stage2(data, root / "stage1", train, stage2, root / "fp" / "a.pt", root / "fp" / "state", root / "fp" / "live", Dist())
    capsys.readouterr()
    train, _, stage2 = tiny_train_configs(epochs=1, lr=5e-4)
    run_stage2(data, root / "stage1", train, stage2, root / "fp" / "b.pt", root / "fp" / "state", root / "fp" / "live", Dist())
    assert "made with other inputs, parameters or code; starting over" in capsys.readouterr().out


def test_vision_only_trains_without_stage1_and_without_i2tce(tmp_path):
    write_training_set(tmp_path)
    data = load_training_data(tmp_path / "train.parquet", tmp_path / "masks.parquet")
    train, stage1, stage2 = tiny_train_configs(epochs=1)
    vision = type(train)(**{**train.__dict__, "vision_only": True})
    assert run_stage1(data, tiny_config(data.num_classes), None, vision, stage1,
                      tmp_path / "stage1", tmp_path / "s", tmp_path / "l", Dist()) == {}
    assert not (tmp_path / "stage1" / TEXT_MEMORY_FILE).exists()
    record = run_stage2(data, tmp_path / "stage1", vision, stage2, tmp_path / "m.pt", tmp_path / "s2", tmp_path / "l2", Dist())
    assert "loss/i2tce" not in record and {"loss/id", "loss/imp", "loss/mask"} <= record.keys()
    with pytest.raises(ArtifactError, match="vision-only stage-1.*re-run it with `dvc repro stage1`"):
        run_stage2(data, tmp_path / "stage1", train, stage2, tmp_path / "m.pt", tmp_path / "s3", tmp_path / "l3", Dist())


def test_stage1_resumes_after_a_crash_to_the_prompts_of_an_uninterrupted_run(tmp_path, monkeypatch):
    import reid.engine.loop as loop_module

    write_training_set(tmp_path)
    data = load_training_data(tmp_path / "train.parquet", tmp_path / "masks.parquet")
    train, stage1, _ = tiny_train_configs()
    config = tiny_config(data.num_classes)
    run_stage1(data, config, None, train, stage1, tmp_path / "whole", tmp_path / "ws", tmp_path / "wl", Dist())
    real_save = loop_module.save_state

    def crash_after_first_epoch(state_dir, payload):
        real_save(state_dir, payload)
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(loop_module, "save_state", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_stage1(data, config, None, train, stage1, tmp_path / "cut", tmp_path / "cs", tmp_path / "cl", Dist())
    monkeypatch.setattr(loop_module, "save_state", real_save)
    run_stage1(data, config, None, train, stage1, tmp_path / "cut", tmp_path / "cs", tmp_path / "cl", Dist())
    whole = read_checkpoint(tmp_path / "whole" / "model.pt")["state_dict"]
    resumed = read_checkpoint(tmp_path / "cut" / "model.pt")["state_dict"]
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert torch.equal(torch.load(tmp_path / "whole" / TEXT_MEMORY_FILE), torch.load(tmp_path / "cut" / TEXT_MEMORY_FILE))


def test_a_code_change_changes_the_fingerprint(tmp_path, monkeypatch):
    import reid.engine.state as state_module

    (tmp_path / "loss.py").write_text("SCALE = 1\n")
    monkeypatch.setattr(state_module, "CODE_ROOT", tmp_path)
    before = state_module.fingerprint({"lr": 1}, torch.ones(2))
    assert state_module.fingerprint({"lr": 1}, torch.ones(2)) == before
    (tmp_path / "loss.py").write_text("SCALE = 2\n")
    assert state_module.fingerprint({"lr": 1}, torch.ones(2)) != before


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_corrupt_state_is_set_aside_and_stage2_starts_over_to_the_same_weights(trained_stage1, capsys, damage):
    root, data, _ = trained_stage1
    train, _, stage2 = tiny_train_configs(epochs=1)
    run = root / f"corrupt-{damage}"
    state = run / "state"
    run_stage2(data, root / "stage1", train, stage2, run / "a.pt", state, run / "live-a", Dist())
    last = state / "last.pt"
    whole = last.read_bytes()
    last.write_bytes(whole[: len(whole) // 3] if damage == "truncated" else b"\x13garbage" * 1000)
    capsys.readouterr()
    run_stage2(data, root / "stage1", train, stage2, run / "b.pt", state, run / "live-b", Dist())
    out = capsys.readouterr().out
    assert f"warning: training state {last} is unreadable" in out and "starting over" in out
    assert len(list(state.glob("last.pt.corrupt-*"))) == 1
    assert torch.load(last, weights_only=False)["epoch"] == 1  # a fresh state, written by the new run
    a, b = (read_checkpoint(run / name)["state_dict"] for name in ("a.pt", "b.pt"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # trained from scratch, not resumed


def test_missing_or_unreadable_stage1_outputs_say_to_rerun_stage1(trained_stage1, tmp_path):
    import shutil

    root, data, _ = trained_stage1
    train, _, stage2 = tiny_train_configs(epochs=1)
    copy = tmp_path / "stage1"
    shutil.copytree(root / "stage1", copy)

    def stage2_fails(match):
        with pytest.raises(ArtifactError, match=match + r": it is made by stage 'stage1'; re-run it with `dvc repro stage1`$"):
            run_stage2(data, copy, train, stage2, tmp_path / "m.pt", tmp_path / "s", tmp_path / "l", Dist())

    memory = (copy / TEXT_MEMORY_FILE).read_bytes()
    (copy / TEXT_MEMORY_FILE).write_bytes(memory[:100])
    stage2_fails(rf"^{copy / TEXT_MEMORY_FILE} is unreadable \(.+\)")
    (copy / TEXT_MEMORY_FILE).unlink()
    stage2_fails(rf"^{copy / TEXT_MEMORY_FILE} is missing")
    (copy / TEXT_MEMORY_FILE).write_bytes(memory)
    model = (copy / "model.pt").read_bytes()
    (copy / "model.pt").write_bytes(model[: len(model) // 2])
    stage2_fails(rf"^{copy / 'model.pt'} is unreadable \(RuntimeError: .+\)")
    (copy / "model.pt").unlink()
    stage2_fails(rf"^{copy / 'model.pt'} is missing")
