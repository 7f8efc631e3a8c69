"""Child process of the kill -9 tests: one stage (stage1, stage2, pretrain, peer-<method>-stage2) on tiny data
under root/run.

With slow_after_epoch = N every step stalls (in the engine's finite check) once the state of
epoch N is on disk, and root/run/ready says so: the parent's kill then lands mid-epoch.
`kill_then_resume` is that parent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import torch

import reid.engine.loop as loop_module
from reid.engine.state import STATE_FILE

REPO = Path(__file__).resolve().parents[2]


def spawn(stage: str, root: Path, run: str, slow_after_epoch: int = 0) -> subprocess.Popen:
    """This module as a child process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "tests.kit.kill_child", stage, str(root), run, str(slow_after_epoch)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def kill_then_resume(stage: str, root: Path, timeout: float) -> tuple[Path, Path]:
    """Run `stage` whole, then kill -9 it in its second epoch and re-run it; (whole, killed) run folders."""
    whole_run, killed_run = f"{stage}-whole", f"{stage}-killed"
    whole = spawn(stage, root, whole_run)
    assert whole.wait(timeout=timeout) == 0, whole.stdout.read().decode()
    killed = spawn(stage, root, killed_run, slow_after_epoch=1)
    deadline = time.monotonic() + timeout
    while not (root / killed_run / "ready").exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(timeout=30) == -signal.SIGKILL, "the run ended before it could be killed"
    assert torch.load(root / killed_run / "state" / STATE_FILE, weights_only=False)["epoch"] == 1
    resumed = spawn(stage, root, killed_run)
    assert resumed.wait(timeout=timeout) == 0, resumed.stdout.read().decode()
    return root / whole_run, root / killed_run


def main(stage: str, root: Path, run: str, slow_after_epoch: int) -> None:
    out = root / run
    state_dir, live_dir = out / "state", out / "live"
    if slow_after_epoch:
        check = loop_module.check_finite

        def slow_check(*args, **kwargs):
            if (state_dir / STATE_FILE).exists():
                (out / "ready").touch()
                time.sleep(0.5)
            return check(*args, **kwargs)

        loop_module.check_finite = slow_check
    if stage == "pretrain":
        from reid.pretrain.train import run_pretrain
        from tests.kit.clip import PRETRAIN_CLIP
        from tests.kit.params import tiny_pretrain

        run_pretrain(pl.read_parquet(root / "pairs.parquet"), PRETRAIN_CLIP, tiny_pretrain().model_copy(update={"epochs": 3}),
                     out / "clip.pt", state_dir, live_dir)
        return
    from reid.training.data import load_training_data
    from reid.engine.distributed import Dist
    if stage.startswith("peer-"):  # peer-<method>-stage2, after the test wrote root/<method>-stage1
        from reid.training.peers import run_peer_stage2
        from tests.kit.params import tiny_peer, tiny_train_configs

        method = stage.split("-")[1]
        train, _, _ = tiny_train_configs()
        data = load_training_data(root / "train.parquet", None)
        run_peer_stage2(method, tiny_peer(method), train, data, root / f"{method}-stage1", out / "model.pt",
                        state_dir, live_dir, Dist())
        return
    from reid.training.stage1 import run_stage1
    from reid.training.stage2 import run_stage2
    from tests.kit.params import tiny_config, tiny_train_configs

    train, stage1, stage2 = tiny_train_configs()
    data = load_training_data(root / "train.parquet", root / "masks.parquet")
    if stage == "stage1":
        run_stage1(data, tiny_config(data.num_classes), None, train, stage1.model_copy(update={"epochs": 3}), out / "stage1",
                   state_dir, live_dir, Dist())
    else:
        run_stage2(data, root / "stage1", train, stage2, out / "muva.pt", state_dir, live_dir, Dist())


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
