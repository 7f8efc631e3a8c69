"""Child process of the kill -9 test: stage-2 on the tiny set; `--slow-after-epoch N` stalls each
memory update once the state of epoch N is on disk, so the parent's kill lands mid-epoch."""

import sys
import time
from pathlib import Path

import reid.training.stage2 as stage2_module
from reid.training.data import load_training_data
from reid.training.distributed import Dist
from reid.training.state import STATE_FILE
from tests.training.helpers import tiny_train_configs


def main(root: str, run: str, slow_after_epoch: int) -> None:
    root = Path(root)
    state_dir = root / run / "state"
    if slow_after_epoch:
        update = stage2_module.momentum_update

        def slow_update(*args, **kwargs):
            if (state_dir / STATE_FILE).exists():
                (root / run / "ready").touch()
                time.sleep(0.5)
            return update(*args, **kwargs)

        stage2_module.momentum_update = slow_update
    train, _, stage2 = tiny_train_configs()
    data = load_training_data(root / "train.parquet", root / "masks.parquet")
    stage2_module.run_stage2(
        data, root / "stage1", train, stage2, root / run / "muva.pt", state_dir, root / run / "live", Dist()
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
