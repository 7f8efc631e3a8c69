"""DVC stage `stage1`: training manifest + masks → models/stage1/ (learned prompts, text memory).

Several GPUs: `torchrun --nproc_per_node N -m stages.stage1`.
"""

from pathlib import Path

from reid.data.protocol import read_protocol
from reid.training.config import Stage1Config, TrainConfig
from reid.training.data import load_training_data
from reid.training.distributed import init_distributed, shutdown
from reid.training.logging import EpochLog
from reid.training.model_config import muva_config
from reid.training.stage1 import run_stage1
from stages.common import load_params

STATE_DIR, LIVE_DIR = Path("checkpoints/stage1"), Path("dvclive/stage1")


def main() -> None:
    params = load_params()
    train = TrainConfig.from_dict(params["train"])
    ctx = init_distributed(train.device)
    data = load_training_data("data/protocol/train.parquet", "data/masks/masks.parquet")
    config = muva_config(params["model"], read_protocol("data/protocol/protocol.json")["sources"], data.num_classes, data.class_domains)
    run_stage1(
        data, config, params["model"].get("pretrained"), train, Stage1Config.from_dict(params["stage1"]),
        out_dir="models/stage1", state_dir=STATE_DIR, live_dir=LIVE_DIR, ctx=ctx,
    )
    if train.vision_only and ctx.is_main:  # nothing was learnt, yet every output dvc.yaml declares must exist
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        log = EpochLog(LIVE_DIR, [{"epoch": 0, "vision_only": 1.0}])
        log.close()
    shutdown(ctx)


if __name__ == "__main__":
    main()
