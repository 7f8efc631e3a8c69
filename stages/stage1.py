"""DVC stage `stage1`: training manifest + masks → models/stage1/ (learned prompts, text memory).

Several GPUs: `torchrun --nproc_per_node N -m stages.stage1`.
"""

from pathlib import Path

from reid.config.checks import check_device, check_identities
from reid.data.protocol import read_protocol
from reid.training.config import Stage1Config, TrainConfig
from reid.training.data import load_training_data
from reid.training.distributed import init_distributed, shutdown
from reid.training.logging import EpochLog
from reid.training.model_config import muva_config
from reid.training.stage1 import run_stage1
from stages.common import StageParams, building, run_stage
from stages.wiring import Stage


def body(params: StageParams, io: Stage) -> None:
    check_device("train.device", params.train.device)
    with building("train"):
        train = TrainConfig.from_dict(params.train.plain())
    with building("stage1"):
        stage1 = Stage1Config.from_dict(params.stage1.plain())
    protocol_dir = Path(io.inputs["protocol"])
    data = load_training_data(protocol_dir / "train.parquet", io.inputs["masks"])
    check_identities(data.num_classes, train.ids_per_batch)
    with building("model"):
        config = muva_config(params.model.plain(), read_protocol(protocol_dir / "protocol.json")["sources"],
                             data.num_classes, data.class_domains)
    ctx = init_distributed(train.device)
    out = io.outputs
    run_stage1(data, config, params.model.pretrained, train, stage1,
               out_dir=out["model"], state_dir=out["state"], live_dir=Path(out["metrics"]).parent, ctx=ctx)
    if train.vision_only and ctx.is_main:  # nothing was learnt, yet every output dvc.yaml declares must exist
        Path(out["state"]).mkdir(parents=True, exist_ok=True)
        EpochLog(Path(out["metrics"]).parent, [{"epoch": 0, "vision_only": 1.0}]).close()
    shutdown(ctx)


if __name__ == "__main__":
    run_stage("stage1", body)
