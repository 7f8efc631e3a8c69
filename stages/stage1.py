"""DVC stage `stage1`: training manifest + masks → models/stage1/ (learned prompts, text memory).

Several GPUs: `torchrun --nproc_per_node N -m stages.stage1`.
"""

from pathlib import Path

from reid.training.stage1 import train_stage1
from stages.common import StageParams, run_stage
from stages.wiring import Stage


def body(params: StageParams, io: Stage) -> None:
    out = io.outputs
    train_stage1(params.model, params.train, params.stage1, io.inputs["protocol"],
                 io.inputs["masks"], out_dir=out["model"], state_dir=out["state"], live_dir=Path(out["metrics"]).parent)


if __name__ == "__main__":
    run_stage("stage1", body)
