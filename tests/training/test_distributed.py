"""DistributedDataParallel with 2 processes on CPU (gloo): the ranks train in lock-step.

The 2-process test spawns two ranks that each run the real `run_stage1` then `run_stage2`
on the tiny set, with the same paths, as `torchrun --nproc_per_node 2 -m stages.stageN`
would.  The library is untouched; inside each child a few delegating wrappers, installed
on the stage modules, record what that rank did: the batches its sampler gave it, the model
it trained (`prepare_model` / `build_muva` receive it) and the stage-2 memory (the tensor
`momentum_update` updates in place).  Each rank dumps these; the parent checks that weights
and memories are bit-identical on both ranks (and equal to what rank 0 wrote), that the
ranks saw disjoint halves of every global P x K batch, and that the stage-2 loss falls.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import reid.training.stage1 as stage1_module
import reid.training.stage2 as stage2_module
from reid.engine.distributed import init_distributed, shutdown
from reid.engine.state import STATE_FILE
from reid.model.checkpoint import read_checkpoint
from reid.training.config import Stage1, Stage2, Train
from reid.training.data import load_training_data
from reid.training.sampler import IdentityBatchSampler
from tests.kit.params import section, tiny_config
from tests.training.helpers import write_training_set

WORLD = 2
P, K = 4, 2  # each rank: 2 identities x 2 images per batch
STAGE2_LOSSES = ("loss/id", "loss/imp", "loss/i2tce", "loss/mask")


def _configs() -> tuple[Train, Stage1, Stage2]:
    train = section("train", ids_per_batch=P, images_per_id=K, memory_batch_size=16)
    stage1 = section("stage1", epochs=2, lr=1e-3, warmup_epochs=1)
    stage2 = section("stage2", epochs=6, lr=1e-3, warmup_iters=0, milestones=[6],  # no decay within the 6 epochs
                     rmp_lr_factor=10)  # the RMP at 1e-2: the demo's x100 of this test's 20x larger lr diverges
    return train, stage1, stage2


def _recording_sampler(log: dict[int, list[list[int]]]) -> type[IdentityBatchSampler]:
    """IdentityBatchSampler that also appends every batch it yields to log[epoch]."""

    class RecordingSampler(IdentityBatchSampler):
        def __iter__(self):
            for batch in super().__iter__():
                log.setdefault(self.epoch, []).append(list(batch))
                yield batch

    return RecordingSampler


def _rank_main(rank: int, root: str, port: int) -> None:
    """One rank (spawned): run both stages as the DVC stages do, then dump what this rank holds."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)  # two ranks on two cores
    root = Path(root)
    seen: dict[str, dict[int, list[list[int]]]] = {"stage1": {}, "stage2": {}}
    held: dict[str, object] = {}
    stage1_module.IdentityBatchSampler = _recording_sampler(seen["stage1"])
    stage2_module.IdentityBatchSampler = _recording_sampler(seen["stage2"])
    build_muva, prepare_model, momentum_update = (
        stage1_module.build_muva, stage2_module.prepare_model, stage2_module.momentum_update
    )

    def build_and_hold(*args, **kwargs):
        held["stage1_model"] = build_muva(*args, **kwargs)
        return held["stage1_model"]

    def prepare_and_hold(model, *args, **kwargs):
        held["model"] = model
        return prepare_model(model, *args, **kwargs)

    def update_and_hold(memory, *args, **kwargs):
        momentum_update(memory, *args, **kwargs)
        held["memory"] = memory

    stage1_module.build_muva = build_and_hold
    stage2_module.prepare_model = prepare_and_hold
    stage2_module.momentum_update = update_and_hold

    ctx = init_distributed("cpu")
    try:
        assert (ctx.rank, ctx.world, ctx.enabled) == (rank, WORLD, True)
        train, stage1, stage2 = _configs()
        data = load_training_data(root / "train.parquet", root / "masks.parquet")
        stage1_module.run_stage1(data, tiny_config(data.num_classes), None, train, stage1,
                                 root / "stage1", root / "s1state", root / "s1live", ctx)
        record = stage2_module.run_stage2(data, root / "stage1", train, stage2,
                                          root / "muva.pt", root / "s2state", root / "s2live", ctx)
        torch.save({
            "stage1_model": held["stage1_model"].state_dict(),
            "model": held["model"].state_dict(),
            "memory": held["memory"].cpu(),
            "seen": seen,
            "record": record,
        }, root / f"rank{rank}.pt")
    finally:
        shutdown(ctx)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(root: Path, timeout: float = 150.0) -> None:
    """Run _rank_main on WORLD spawned processes; fail (not hang) if they do not finish in time."""
    context = mp.start_processes(_rank_main, args=(str(root), _free_port()), nprocs=WORLD, join=False,
                                 start_method="spawn")
    deadline = time.monotonic() + timeout
    try:
        while not context.join(timeout=1.0):  # raises if a rank failed
            if time.monotonic() > deadline:
                pytest.fail(f"the {WORLD} ranks did not finish within {timeout:.0f} s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
                process.join()


def _equal_state_dicts(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> list[str]:
    """Names of the entries that differ (all must be present in both)."""
    assert a.keys() == b.keys()
    return [name for name in a if not torch.equal(a[name], b[name])]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    write_training_set(root, ids=8, per_id=4)
    _spawn(root)
    ranks = [torch.load(root / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    return root, ranks


def test_weights_are_identical_on_both_ranks_and_equal_what_rank_0_wrote(two_ranks):
    root, (a, b) = two_ranks
    assert _equal_state_dicts(a["stage1_model"], b["stage1_model"]) == []
    assert _equal_state_dicts(a["model"], b["model"]) == []
    stage1 = read_checkpoint(root / "stage1" / "model.pt")["state_dict"]
    assert _equal_state_dicts(a["stage1_model"], stage1) == []
    written = read_checkpoint(root / "muva.pt")["state_dict"]  # the image side only
    assert written and all(k.startswith("image.") for k in written)
    assert [k for k, v in written.items() if not torch.equal(a["model"][k], v)] == []
    moved = [k for k in a["model"] if k.startswith("image.") and not torch.equal(a["model"][k], stage1[k])]
    assert moved, "stage-2 did not change the image encoder"


def test_memories_are_identical_on_both_ranks(two_ranks):
    root, (a, b) = two_ranks
    assert a["memory"].shape == (8, a["model"]["classifier.weight"].shape[1])
    assert torch.equal(a["memory"], b["memory"])
    assert torch.equal(a["memory"], torch.load(root / "s2state" / STATE_FILE, weights_only=False)["memory"])


@pytest.mark.parametrize("stage", ["stage1", "stage2"])
def test_each_rank_saw_its_own_half_of_every_global_batch(two_ranks, stage):
    root, ranks = two_ranks
    train, stage1, stage2 = _configs()
    labels = load_training_data(root / "train.parquet", root / "masks.parquet").labels
    whole = IdentityBatchSampler(labels, P, K, train.seed)
    epochs = (stage1 if stage == "stage1" else stage2).epochs
    for rank in ranks:
        assert sorted(rank["seen"][stage]) == list(range(epochs))
    for epoch in range(epochs):
        whole.set_epoch(epoch)
        batches = list(whole)
        parts = [rank["seen"][stage][epoch] for rank in ranks]
        assert [len(p) for p in parts] == [len(batches)] * WORLD
        for i, batch in enumerate(batches):
            mine, theirs = parts[0][i], parts[1][i]
            assert len(mine) == len(theirs) == P // WORLD * K
            assert not set(mine) & set(theirs)
            assert not set(labels[mine].tolist()) & set(labels[theirs].tolist())  # identities never split
            assert sorted(mine + theirs) == sorted(batch)


def test_ranks_agree_on_the_logged_epoch_and_the_stage2_loss_falls(two_ranks):
    root, (a, b) = two_ranks
    assert {k: v for k, v in a["record"].items() if not k.startswith("time/")} == {
        k: v for k, v in b["record"].items() if not k.startswith("time/")
    }
    history = torch.load(root / "s2state" / STATE_FILE, weights_only=False)["history"]
    assert [r["epoch"] for r in history] == list(range(_configs()[2].epochs))
    totals = [sum(r[name] for name in STAGE2_LOSSES) for r in history]  # loss weights are all 1
    assert totals[-1] < totals[0], totals
    assert all(history[-1][name] < history[0][name] for name in STAGE2_LOSSES), history


@pytest.mark.parametrize("world", [2, 4])
def test_rank_r_takes_identities_r_mod_world_of_every_global_batch(world):
    labels = torch.tensor([c for c in range(12) for _ in range(3 + c % 3)])  # 3 to 5 images per identity
    whole = IdentityBatchSampler(labels, ids_per_batch=4, images_per_id=2, seed=5)
    shards = [IdentityBatchSampler(labels, 4, 2, seed=5, rank=r, world=world) for r in range(world)]
    for epoch in (0, 1, 7):
        for sampler in (whole, *shards):
            sampler.set_epoch(epoch)
        batches = list(whole)
        per_rank = [list(shard) for shard in shards]
        assert batches and all(len(part) == len(batches) == len(shard) for part, shard in zip(per_rank, shards))
        for i, batch in enumerate(batches):
            rows = torch.tensor(batch).view(4, 2)  # P x K: one identity per row
            for r in range(world):
                assert per_rank[r][i] == rows[r::world].reshape(-1).tolist()


def test_ids_per_batch_must_split_evenly_over_the_ranks():
    labels = torch.arange(8).repeat_interleave(2)
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        IdentityBatchSampler(labels, ids_per_batch=3, images_per_id=2, rank=0, world=2)
