"""The grounding pass heals: errors are retried, too many fail the run, corrupt store files are
set aside, the store compacts, the oracle refuses data without ground truth, honest metrics."""

import json
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

import reid.grounding.run as grounding_run
import reid.utils.append_store as store_module
from reid.errors import ConfigError, ReidError
from reid.grounding.run import run_grounding
from reid.grounding.store import SCHEMA, GroundingStore
from reid.synth.layouts import GT_BOXES
from stages.common import main
from tests.grounding.helpers import (
    CountingExpert,
    grounding,
    make_dataset,
    run,
    run_paths,
    stable,
    two_datasets,
    write_manifest,
)

MARKET = "Market-1501-v15.09.15"
REPO = Path(__file__).resolve().parents[2]
RETRY = ("to retry them now: dvc repro -s -f ground, then dvc repro (DVC sees the stage as up to date; -s leaves the "
         "stages before it alone)")


def store_of(root: Path) -> GroundingStore:
    return GroundingStore(root / "store", CountingExpert().identity())


def head_state(root: Path) -> dict[str, tuple[str, int]]:
    """image_id → (status, attempt) of the head rows of boxes.parquet."""
    boxes = pl.read_parquet(root / "boxes.parquet").filter(pl.col("part") == "head")
    return {i: (s, a) for i, s, a in boxes.select("image_id", "status", "attempt").iter_rows()}


def keys_named(tree, name: str) -> list[str]:
    """Key paths of `tree` whose last key is `name`, at any depth (what `dvc metrics show` trips on)."""
    found = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == name:
                found.append(key)
            found += [f"{key}.{sub}" for sub in keys_named(value, name)]
    return found


def test_error_answers_are_retried_until_max_attempts(tmp_path, capsys):
    frame = make_dataset(tmp_path, 6)
    ids = frame["image_id"].to_list()
    gt = tmp_path / MARKET / GT_BOXES  # image 2 has no ground truth: the oracle answers no_box, an answer
    pl.read_parquet(gt).filter(pl.col("image_id") != ids[2]).write_parquet(gt)
    manifest = write_manifest(tmp_path, [frame])

    first = CountingExpert(fail_on=(ids[1], ids[4]))  # image 1 fails in this run only, image 4 in every run
    s1 = run(manifest, tmp_path, first, max_error_fraction=1.0)
    assert sorted(set(first.asked)) == ids
    assert head_state(tmp_path) == {ids[0]: ("ok", 1), ids[1]: ("error", 1), ids[2]: ("no_box", 1),
                                    ids[3]: ("ok", 1), ids[4]: ("error", 1), ids[5]: ("ok", 1)}
    assert (s1["failed_images"], s1["retried_this_run_rank0"], s1["grounded_this_run_rank0"]) == (2, 0, 6)
    assert s1["images_by_attempt"] == {"1": 6, "2": 0, "3": 0}

    second = CountingExpert(fail_on=(ids[4],))
    s2 = run(manifest, tmp_path, second, max_error_fraction=1.0)
    assert sorted(set(second.asked)) == [ids[1], ids[4]] and second.seen == [ids[1]]  # no_box is not asked again
    assert head_state(tmp_path) == {ids[0]: ("ok", 1), ids[1]: ("ok", 2), ids[2]: ("no_box", 1),
                                    ids[3]: ("ok", 1), ids[4]: ("error", 2), ids[5]: ("ok", 1)}
    assert (s2["failed_images"], s2["failed_out_of_attempts"], s2["retried_this_run_rank0"]) == (1, 0, 2)
    assert s2["images_by_attempt"] == {"1": 4, "2": 2, "3": 0}
    assert s2["answers"]["failed"] == {"head": 1, "upper": 1, "legs": 1}
    last = capsys.readouterr().out.strip().splitlines()[-1]  # under the threshold the stage succeeds: say how to retry
    assert last.startswith("warning: 1 of 6 images") and last.endswith(
        "a rerun grounds only the 1 with attempts left (grounding.max_attempts = 3); " + RETRY)

    third = CountingExpert(fail_on=(ids[4],))
    s3 = run(manifest, tmp_path, third, max_error_fraction=1.0)
    assert set(third.asked) == {ids[4]} and head_state(tmp_path)[ids[4]] == ("error", 3)
    assert (s3["failed_images"], s3["failed_out_of_attempts"]) == (1, 1)
    capsys.readouterr()

    fourth = CountingExpert(fail_on=(ids[4],))
    s4 = run(manifest, tmp_path, fourth, max_error_fraction=1.0)
    assert fourth.asked == [] and s4["grounded_this_run_rank0"] == 0 and s4["retried_this_run_rank0"] == 0
    assert (s4["failed_images"], s4["failed_out_of_attempts"]) == (1, 1)
    assert s4["images_by_attempt"] == {"1": 4, "2": 1, "3": 1}
    out = capsys.readouterr().out
    assert "warning: 1 of 6 images (16.7%) have status error" in out
    assert f"{frame['path'][4]}: RuntimeError: model choked on {ids[4]}" in out
    assert "1 used all grounding.max_attempts = 3 attempts" in out
    boxes = pl.read_parquet(tmp_path / "boxes.parquet")
    assert boxes.filter(pl.col("image_id") == ids[4])["message"].to_list() == [f"RuntimeError: model choked on {ids[4]}"] * 3

    clean_root = tmp_path / "clean"
    run(manifest, clean_root, CountingExpert())
    healed = stable(boxes).drop("attempt").filter(pl.col("image_id") != ids[4])
    clean = stable(pl.read_parquet(clean_root / "boxes.parquet")).drop("attempt").filter(pl.col("image_id") != ids[4])
    assert healed.height == 15 and healed.equals(clean)  # the retried image got the clean run's answers


def test_max_attempts_one_never_retries(tmp_path):
    manifest = write_manifest(tmp_path, [make_dataset(tmp_path, 3)])
    ids = pl.read_parquet(manifest)["image_id"].to_list()
    run(manifest, tmp_path, CountingExpert(fail_on=(ids[0],)), max_attempts=1, max_error_fraction=1.0)
    again = CountingExpert()
    summary = run(manifest, tmp_path, again, max_attempts=1, max_error_fraction=1.0)
    assert again.asked == [] and summary["failed_out_of_attempts"] == 1
    raised = CountingExpert()  # raising max_attempts makes the exhausted error pending again
    summary = run(manifest, tmp_path, raised, max_attempts=2)
    assert raised.asked == [ids[0]] and head_state(tmp_path)[ids[0]] == ("ok", 2) and summary["failed_images"] == 0


def test_rows_of_an_older_store_without_attempt_read_as_attempt_one(tmp_path):
    manifest = write_manifest(tmp_path, [make_dataset(tmp_path, 2)])
    ids = pl.read_parquet(manifest)["image_id"].to_list()
    run(manifest, tmp_path, CountingExpert(fail_on=(ids[1],)), max_error_fraction=1.0)
    store = store_of(tmp_path)
    for path in store.files():  # as the store wrote them before the attempt column
        pl.read_parquet(path).drop("attempt").write_parquet(path)
    assert "attempt" not in pl.read_parquet(store.files()[0]).columns
    assert store.read()["attempt"].to_list() == [1] * 6
    expert = CountingExpert()
    run(manifest, tmp_path, expert)
    assert expert.asked == [ids[1]] and head_state(tmp_path) == {ids[0]: ("ok", 1), ids[1]: ("ok", 2)}


def test_too_many_errors_fail_the_run_after_keeping_every_answer(tmp_path):
    frame = make_dataset(tmp_path, 10)
    ids, paths = frame["image_id"].to_list(), frame["path"].to_list()
    manifest = write_manifest(tmp_path, [frame])
    failing = (ids[2], ids[5], ids[7], ids[8])
    with pytest.raises(ReidError) as info:
        run(manifest, tmp_path, CountingExpert(fail_on=failing))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("grounding failed: 4 of 10 images (40.0%) have status error "
                              "(threshold grounding.max_error_fraction = 0.05)")
    for i in (2, 5, 7):  # the first three, in image order
        assert f"{paths[i]}: RuntimeError: model choked on {ids[i]}" in message
    assert paths[8] not in message
    assert "a rerun grounds only the 4 with attempts left" in message
    kept = store_of(tmp_path).read()
    assert kept.height == 30 and kept.filter(pl.col("status") == "ok").height == 18
    assert set(kept.filter(pl.col("status") == "error")["image_id"]) == set(failing)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["failed_images"], summary["failed_fraction"]) == (4, 0.4)

    at_threshold = CountingExpert(fail_on=failing[:1])  # 1 of 10 = 0.1 does not exceed 0.1
    summary = run(manifest, tmp_path, at_threshold, max_error_fraction=0.1)
    assert sorted(set(at_threshold.asked)) == sorted(failing) and summary["failed_images"] == 1

    healthy = CountingExpert()
    summary = run(manifest, tmp_path, healthy)
    assert healthy.asked == [ids[2]] and summary["failed_images"] == 0
    assert head_state(tmp_path)[ids[2]] == ("ok", 3)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_store_file_is_set_aside_and_its_images_regrounded(tmp_path, reference, damage, capsys):
    manifest = two_datasets(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run(manifest, tmp_path, CountingExpert(crash_after=3))
    store = store_of(tmp_path)
    files = store.files()
    assert [p.relative_to(store.dir).as_posix() for p in files] == \
        ["D/part-000-000000.parquet", "D/part-000-000001.parquet", "MA/part-000-000000.parquet"]
    victim = files[1]
    lost = set(pl.read_parquet(victim)["image_id"])
    data = victim.read_bytes()
    bad = b"garbage!" * 64 if damage == "garbage" else data[: len(data) // 2]
    victim.write_bytes(bad)
    capsys.readouterr()

    expert = CountingExpert()
    run(manifest, tmp_path, expert)
    out = capsys.readouterr().out
    aside = victim.parent / "corrupt" / victim.name
    assert f"warning: grounding store file {victim} is unreadable" in out and f"moved to {aside}" in out
    assert out.count("unreadable") == 1  # set aside before the pending images are listed, not skipped
    assert aside.read_bytes() == bad and not victim.exists()
    assert len(lost) == 2 and lost <= set(expert.seen) and len(expert.seen) == 13 - 4
    assert stable(pl.read_parquet(tmp_path / "boxes.parquet")).equals(stable(reference))

    again = CountingExpert()
    run(manifest, tmp_path, again)
    assert again.asked == [] and "unreadable" not in capsys.readouterr().out


def test_store_compacts_to_one_file_per_dataset_with_the_same_answers(tmp_path, reference):
    manifest = two_datasets(tmp_path)
    store = store_of(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run(manifest, tmp_path, CountingExpert(crash_after=5))
    assert len(store.files()) == 5  # an interrupted run does not compact
    run(manifest, tmp_path, CountingExpert())
    assert [p.relative_to(store.dir).as_posix() for p in store.files()] == \
        ["D/compact-000000.parquet", "MA/compact-000000.parquet"]
    assert sorted(p.name for p in store.dir.rglob("*") if p.is_file()) == \
        ["compact-000000.parquet", "compact-000000.parquet", "expert.json"]  # no temporary file left
    assert stable(store.read()).equals(stable(reference.select(list(SCHEMA))))
    assert stable(pl.read_parquet(tmp_path / "boxes.parquet")).equals(stable(reference))

    # new answers (a retry) land in new part files and the next compaction folds them in
    ids = pl.read_parquet(manifest)["image_id"].to_list()
    frame = store.read()
    store.append(frame.filter(pl.col("image_id") == ids[0]).with_columns(
        pl.lit("error").alias("status"), pl.lit(2).alias("attempt")), "MA", 0)
    assert store.compact() == 2
    assert [p.name for p in store.files("MA")] == ["compact-000001.parquet"]
    merged = store.read()
    assert merged.height == 39 and merged.filter(pl.col("status") == "error")["image_id"].to_list() == [ids[0]] * 3


def test_kill_during_compaction_leaves_a_readable_store(tmp_path, reference, monkeypatch):
    manifest = two_datasets(tmp_path)
    removed = []

    def killed_after_one(path):
        if removed:
            raise KeyboardInterrupt("killed while compacting")
        removed.append(path)
        path.unlink()

    monkeypatch.setattr(store_module, "_remove", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        run(manifest, tmp_path, CountingExpert())
    monkeypatch.undo()
    store = store_of(tmp_path)
    # D (compacted first) holds its compacted file and a file it merged but did not remove yet
    assert [p.name for p in store.files("D")] == ["compact-000000.parquet", "part-000-000001.parquet"]
    assert len(store.files("MA")) == 5
    every_row = pl.concat([pl.read_parquet(p) for p in store.files()])
    assert every_row.height == 13 * 3 + 2 * 3  # two images' rows twice, transiently
    assert stable(store.read()).equals(stable(reference.select(list(SCHEMA))))  # read drops the duplicates
    assert len(store.done_ids()) == 13

    again = CountingExpert()
    run(manifest, tmp_path, again)
    assert again.asked == []
    assert [p.relative_to(store.dir).as_posix() for p in store.files()] == \
        ["D/compact-000001.parquet", "MA/compact-000000.parquet"]
    assert pl.concat([pl.read_parquet(p) for p in store.files()]).height == 13 * 3
    assert stable(pl.read_parquet(tmp_path / "boxes.parquet")).equals(stable(reference))


def test_oracle_without_ground_truth_fails_before_grounding(tmp_path):
    synthetic = make_dataset(tmp_path, 3)
    real = make_dataset(tmp_path, 2, key="D", folder="DukeMTMC-reID")
    (tmp_path / "DukeMTMC-reID" / GT_BOXES).unlink()
    manifest = write_manifest(tmp_path, [synthetic, real])
    with pytest.raises(ConfigError) as info:
        run_grounding(manifest, config=grounding("oracle"), **run_paths(tmp_path))
    message = str(info.value)
    assert (info.value.key, info.value.value) == ("grounding.expert", "oracle")
    assert message.startswith("grounding.expert = 'oracle': ")
    assert f"1 dataset folder(s) have none: {tmp_path / 'DukeMTMC-reID'};" in message
    assert MARKET not in message and "choose grounding.expert: pose, stripes or cogvlm" in message
    assert not (tmp_path / "store").exists() and not (tmp_path / "boxes.parquet").exists()

    only_synthetic = tmp_path / "synthetic"
    only_synthetic.mkdir()
    manifest = write_manifest(only_synthetic, [synthetic])
    summary = run_grounding(manifest, config=grounding("oracle"), **run_paths(only_synthetic))
    assert summary["answers"]["ok"] == {"head": 3, "upper": 3, "legs": 3}


def test_metrics_have_no_key_named_error(tmp_path):
    manifest = write_manifest(tmp_path, [make_dataset(tmp_path, 4, bad=(0,))])
    summary = run(manifest, tmp_path, CountingExpert(), max_error_fraction=1.0)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written == json.loads(json.dumps(summary))
    assert keys_named(written, "error") == []
    assert keys_named({"answers": {"error": {"head": 1}}}, "error") == ["answers.error"]  # the check can fail
    assert sorted(written) == sorted([
        "expert", "version", "store", "images", "missing_images", "grounded_this_run_rank0",
        "retried_this_run_rank0", "images_per_s_rank0", "world_size", "answers", "failed_images",
        "failed_fraction", "failed_out_of_attempts", "images_by_attempt"])
    assert written["answers"] == {"ok": {"head": 3, "upper": 3, "legs": 3}, "no_box": {"head": 0, "upper": 0, "legs": 0},
                                  "parse_error": {"head": 0, "upper": 0, "legs": 0},
                                  "failed": {"head": 1, "upper": 1, "legs": 1}}
    assert (written["failed_images"], written["failed_fraction"]) == (1, 0.25)


def test_the_stage_says_how_to_retry_and_the_forced_rerun_retries_only_the_errors(tmp_path, monkeypatch, capsys):
    """`python -m stages.ground` twice, as `dvc repro -s -f ground` runs it: its store persists (dvc.yaml), so
    the rerun grounds only the images that ended in error, once their cause is gone."""
    outs = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["ground"]["outs"]
    assert {"data/grounding/store": {"persist": True}} in outs  # a forced run keeps the answers
    frame = make_dataset(tmp_path, 6)
    ids = frame["image_id"].to_list()
    (tmp_path / "data" / "protocol").mkdir(parents=True)
    write_manifest(tmp_path, [frame]).rename(tmp_path / "data" / "protocol" / "train.parquet")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["grounding"].update(max_error_fraction=0.5, batch_size=2)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["ground"])
    for expert in (CountingExpert(fail_on=(ids[1], ids[4])), CountingExpert()):  # the cause is fixed for the rerun
        monkeypatch.setattr(grounding_run, "build_expert", lambda *_: expert)
        with pytest.raises(SystemExit) as exit_:
            main("ground")
        assert exit_.value.code == 0  # under the threshold the stage succeeds, so DVC records it as done
        out = capsys.readouterr().out.strip().splitlines()
        if expert.fail_on:
            assert sorted(set(expert.asked)) == ids and out[-1].startswith("warning: 2 of 6 images (33.3%) have status")
            assert out[-1].endswith("a rerun grounds only the 2 with attempts left (grounding.max_attempts = 3); " + RETRY)
    assert expert.asked == [ids[1], ids[4]] and not any(line.startswith("warning") for line in out)  # ok ones kept
    assert head_state(tmp_path / "data" / "grounding") == {i: ("ok", 2 if i in (ids[1], ids[4]) else 1) for i in ids}
