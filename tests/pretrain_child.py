"""Child process of the pretrain kill -9 test: 3 epochs on the tiny pool; with slow_after_epoch = N
each step stalls once the state of epoch N is on disk, so the parent's kill lands mid-epoch."""

import sys
import time
from dataclasses import replace
from pathlib import Path

import polars as pl

import reid.engine.loop as loop_module
import reid.pretrain.train as train_module
from reid.training.state import STATE_FILE
from tests.test_pretrain import TINY_CLIP, TINY_RUN


def main(root: str, run: str, slow_after_epoch: int) -> None:
    root = Path(root)
    state_dir = root / run / "state"
    if slow_after_epoch:
        check = loop_module.check_finite

        def slow_check(*args, **kwargs):
            if (state_dir / STATE_FILE).exists():
                (root / run / "ready").touch()
                time.sleep(0.5)
            return check(*args, **kwargs)

        loop_module.check_finite = slow_check
    pairs = pl.read_parquet(root / "pairs.parquet")
    train_module.run_pretrain(pairs, TINY_CLIP, replace(TINY_RUN, epochs=3), root / run / "clip.pt", state_dir,
                              root / run / "live")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
