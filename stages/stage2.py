"""DVC stage `stage2`: stage-1 model + masks → models/muva.pt (image encoder + BNNeck).

Several GPUs: `torchrun --nproc_per_node N -m stages.stage2`.
"""

from pathlib import Path

from reid.training.stage2 import train_stage2
from stages.common import StageParams, run_stage
from stages.wiring import Stage


def body(params: StageParams, io: Stage) -> None:
    out = io.outputs
    train_stage2(params.train, params.stage2, io.inputs["train"], io.inputs["masks"], io.inputs["stage1"],
                 out_checkpoint=out["model"], state_dir=out["state"], live_dir=Path(out["metrics"]).parent)


if __name__ == "__main__":
    run_stage("stage2", body)
