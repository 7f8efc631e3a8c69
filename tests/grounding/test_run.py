"""The grounding pass: resumable, never regrounds, shardable, robust to bad images."""

import errno
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import pytest
import torch.multiprocessing as mp

from reid.utils.drawing import (
    COLOURS,
    LEGEND_H,
    NOTE_H,
    NOTE_LINES,
    PAD,
    TILE_H,
    TITLE_H,
)
import reid.grounding.run as grounding_run
from reid.errors import InputError, user_failure
from reid.grounding.experts import build_expert
from reid.grounding.run import run_grounding
from reid.grounding.store import GroundingStore, expert_tag
from reid.utils.images import read_image
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


def test_uninterrupted_run_outputs_and_contact_sheet(tmp_path, reference):
    assert reference.height == 13 * 3
    assert reference["dataset"].value_counts().sort("dataset").rows() == [("D", 12), ("MA", 27)]
    assert reference.columns[:6] == ["image_id", "dataset", "part", "boxes", "raw", "status"]
    assert {"width", "height", "expert", "version", "seconds", "message"} <= set(reference.columns)
    run(two_datasets(tmp_path), tmp_path, build_expert(grounding("stripes")))
    sheet = read_image(tmp_path / "sheet.png")
    row = TILE_H + NOTE_LINES * NOTE_H  # a 32 x 64 crop at TILE_H = 256 is 128 wide, its caption lines below
    assert sheet.shape == (TITLE_H + 2 * row + PAD + LEGEND_H, 8 * 128 + 7 * PAD, 3)  # 13 images → rows of 8, 5
    assert tuple(sheet[TITLE_H + 40, 0]) == COLOURS["head"] and tuple(sheet[TITLE_H + 200, 0]) == COLOURS["legs"]
    assert (sheet[TITLE_H + row + PAD:-LEGEND_H, 5 * (128 + PAD):] == 255).all()  # the short row is padded white


def test_resume_after_interruption_never_regrounds(tmp_path, reference):
    manifest = two_datasets(tmp_path)
    first = CountingExpert(crash_after=3)
    with pytest.raises(KeyboardInterrupt):
        run(manifest, tmp_path, first)
    assert len(first.seen) == 6  # 3 batches of 2 flushed, the 4th never ran
    second = CountingExpert()
    summary = run(manifest, tmp_path, second)
    assert len(second.seen) == 7 and not set(first.seen) & set(second.seen)
    assert summary["images"] == 13 and summary["missing_images"] == 0
    assert stable(pl.read_parquet(tmp_path / "boxes.parquet")).equals(stable(reference))
    third = CountingExpert()
    run(manifest, tmp_path, third)
    assert third.seen == []  # everything done: nothing grounded again


def test_sigkill_mid_run_then_resume(tmp_path, reference):
    manifest = two_datasets(tmp_path)
    code = ("import sys; from tests.grounding.helpers import slow_run; slow_run(sys.argv[1], sys.argv[2])")
    child = subprocess.Popen([sys.executable, "-c", code, str(manifest), str(tmp_path)],
                             cwd=Path(__file__).parents[2])
    store_dir = tmp_path / "store"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(store_dir.glob("*/*/part-*.parquet"))) < 2:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    files = list(store_dir.glob("*/*/part-*.parquet"))
    assert 2 <= len(files) < 7, "the kill must land mid-run"
    before = pl.concat([pl.read_parquet(f) for f in files])["image_id"].n_unique()
    resumed = CountingExpert()
    run(manifest, tmp_path, resumed)
    assert len(resumed.seen) == 13 - before
    every_row = pl.concat([pl.read_parquet(f) for f in store_dir.glob("*/*/*.parquet")])  # compacted
    assert every_row.height == 13 * 3 and every_row["attempt"].unique().to_list() == [1]  # none grounded twice
    assert stable(pl.read_parquet(tmp_path / "boxes.parquet")).equals(stable(reference))


def test_expert_or_prompt_change_gets_its_own_store(tmp_path):
    manifest = two_datasets(tmp_path, 3)
    run(manifest, tmp_path, build_expert(grounding("stripes")))
    narrow = build_expert(grounding(stripes={"windows": {"head": [0, 0.2], "upper": [0.2, 0.5], "legs": [0.5, 1]}}))
    run(manifest, tmp_path, narrow)
    tags = sorted(p.name for p in (tmp_path / "store").iterdir())
    assert len(tags) == 2 and all(t.startswith("stripes-") for t in tags)
    boxes = pl.read_parquet(tmp_path / "boxes.parquet")
    assert boxes.filter(pl.col("part") == "head")["boxes"].to_list()[0] == [[0.0, 0.0, 1.0, 0.2]]
    ident = build_expert(grounding("stripes")).identity()
    assert expert_tag(ident) != expert_tag({**ident, "prompts": {"head": "another prompt"}})
    assert json.loads((tmp_path / "store" / expert_tag(narrow.identity()) / "expert.json").read_text()) == \
        json.loads(json.dumps(narrow.identity()))


def test_bad_image_and_failing_call_mark_only_their_images(tmp_path):
    manifest = write_manifest(tmp_path, [make_dataset(tmp_path, 5, bad=(1,))])
    ids = pl.read_parquet(manifest)["image_id"].to_list()
    expert = CountingExpert(fail_on=(ids[3],))
    summary = run(manifest, tmp_path, expert, batch_size=4, max_error_fraction=1.0)
    boxes = pl.read_parquet(tmp_path / "boxes.parquet")
    status = dict(boxes.filter(pl.col("part") == "head").select("image_id", "status").iter_rows())
    assert [status[i] for i in ids] == ["ok", "error", "ok", "error", "ok"]
    msgs = boxes.filter(pl.col("status") == "error")["message"].to_list()
    assert sum("ImageError" in m for m in msgs) == 3 and sum("RuntimeError: model choked" in m for m in msgs) == 3
    assert summary["answers"]["failed"] == {"head": 2, "upper": 2, "legs": 2} and summary["failed_images"] == 2
    assert sorted(expert.seen) == sorted([ids[0], ids[2], ids[4]])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_sharding_equals_single_process(tmp_path, reference):
    from tests.grounding.helpers import dist_worker

    manifest = two_datasets(tmp_path)
    mp.spawn(dist_worker, args=(2, _free_port(), str(manifest), str(tmp_path)), nprocs=2, join=True)
    seen = [json.loads((tmp_path / f"seen-{r}.json").read_text()) for r in range(2)]
    assert sorted(map(len, seen)) == [6, 7] and not set(seen[0]) & set(seen[1])  # each rank its own share
    assert sorted(seen[0] + seen[1]) == sorted(pl.read_parquet(manifest)["image_id"].to_list())
    files = sorted(str(p.relative_to(tmp_path / "store")).split("/", 1)[1]
                   for p in (tmp_path / "store").glob("*/*/*.parquet"))
    assert files == ["D/compact-000000.parquet", "MA/compact-000000.parquet"]  # rank 0 compacted both ranks' files
    assert stable(pl.read_parquet(tmp_path / "boxes.parquet")).equals(stable(reference))
    store = GroundingStore(tmp_path / "store", CountingExpert().identity())
    assert len(store.done_ids()) == 13


@pytest.mark.parametrize("where", ["store/{tag}/MA", "store", "out"])
def test_a_read_only_store_or_output_is_refused_before_the_expert_is_built(tmp_path, monkeypatch, where):
    """The append-only store after an earlier run: every folder a run writes into is tried first (one line, status 2)."""
    manifest = write_manifest(tmp_path, [make_dataset(tmp_path, 2)])
    run(manifest, tmp_path, build_expert(grounding("stripes")))
    tag = expert_tag(build_expert(grounding("stripes")).identity())
    paths = {**run_paths(tmp_path), "out_path": tmp_path / "out" / "boxes.parquet"}
    read_only = tmp_path / where.format(tag=tag)
    read_only.mkdir(exist_ok=True)
    temporary_file = tempfile.TemporaryFile

    def scratch(*args, dir=None, **kwargs):  # as a read-only mount answers (root ignores permission bits)
        if Path(dir) == read_only:
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return temporary_file(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", scratch)
    monkeypatch.setattr(grounding_run, "build_expert", lambda *_: pytest.fail("the expert was built"))
    with pytest.raises(InputError) as caught:
        run_grounding(manifest, config=grounding("stripes"), **paths)
    what, fix = (("the ground stage's output folder", "write the outputs elsewhere (reid ground --boxes, --sheet, "
                  "--metrics)") if where == "out" else ("the grounding store", "give reid ground --store another folder"))
    assert str(caught.value) == f"{what} {read_only} is not writable (read-only file system); make it writable, or {fix}"
    assert user_failure(caught.value) == (str(caught.value), 2)
