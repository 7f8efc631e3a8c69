"""DVC stage `stage2`: stage-1 model + masks → models/muva.pt (image encoder + BNNeck).

Several GPUs: `torchrun --nproc_per_node N -m stages.stage2`.
"""

from reid.training.config import Stage2Config, TrainConfig
from reid.training.data import load_training_data
from reid.training.distributed import init_distributed, shutdown
from reid.training.stage2 import run_stage2
from stages.common import load_params


def main() -> None:
    params = load_params()
    train = TrainConfig.from_dict(params["train"])
    ctx = init_distributed(train.device)
    data = load_training_data("data/protocol/train.parquet", "data/masks/masks.parquet")
    run_stage2(
        data, "models/stage1", train, Stage2Config.from_dict(params["stage2"]),
        out_checkpoint="models/muva.pt", state_dir="checkpoints/stage2", live_dir="dvclive/stage2", ctx=ctx,
    )
    shutdown(ctx)


if __name__ == "__main__":
    main()
