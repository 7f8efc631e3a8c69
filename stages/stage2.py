"""DVC stage `stage2`: stage-1 model + masks → models/muva.pt (image encoder + BNNeck).

Several GPUs: `torchrun --nproc_per_node N -m stages.stage2`.
"""

from pathlib import Path

from reid.config.checks import check_device, check_identities
from reid.training.config import Stage2Config, TrainConfig
from reid.training.data import load_training_data
from reid.training.distributed import init_distributed, shutdown
from reid.training.stage2 import run_stage2
from stages.common import StageParams, building, run_stage
from stages.wiring import Stage


def body(params: StageParams, io: Stage) -> None:
    check_device("train.device", params.train.device)
    with building("train"):
        train = TrainConfig.from_dict(params.train.plain())
    with building("stage2"):
        stage2 = Stage2Config.from_dict(params.stage2.plain())
    data = load_training_data(io.inputs["train"], io.inputs["masks"])
    check_identities(data.num_classes, train.ids_per_batch)
    ctx = init_distributed(train.device)
    out = io.outputs
    run_stage2(data, io.inputs["stage1"], train, stage2, out_checkpoint=out["model"], state_dir=out["state"],
               live_dir=Path(out["metrics"]).parent, ctx=ctx)
    shutdown(ctx)


if __name__ == "__main__":
    run_stage("stage2", body)
